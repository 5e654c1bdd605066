"""A counsellor's console for tests: the HTTP API and the live WebSocket, as the page uses them."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable

import aiohttp

EVENT_TIMEOUT = 30.0


class ConsoleClient:
    """One logged-in counsellor: `events` collects what the WebSocket pushed, in order."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.url = url.rstrip("/")
        self.username = username
        self.password = password
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""
        self.events: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> "ConsoleClient":
        await self.login()
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()
        await self.http.close()

    async def login(self) -> None:
        async with self.http.post(f"{self.url}/api/auth/login",
                                  json={"username": self.username, "password": self.password}) as response:
            assert response.status == 200, await response.text()
            self.csrf = (await response.json())["csrf_token"]

    async def connect(self) -> None:
        self._ws = await self.http.ws_connect(f"{self.url}/api/console/ws")
        self._reader = asyncio.create_task(self._read(self._ws))
        await self.wait_for(lambda e: e["type"] == "hello")

    async def disconnect(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await self._reader

    async def closed_by_server(self, timeout: float = EVENT_TIMEOUT) -> int | None:
        """Wait until the server closes the live feed; its close code."""
        assert self._ws is not None and self._reader is not None
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self._ws.close_code

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.events.append(json.loads(msg.data))
                self._arrived.set()

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = EVENT_TIMEOUT,
                       start: int = 0) -> dict[str, Any]:
        """The first event (from index `start`) matching `predicate`, waiting for it if needed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen = start
        while True:
            for event in self.events[seen:]:
                if predicate(event):
                    return event
            seen = max(seen, len(self.events))
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no such console event; got {[e['type'] for e in self.events]}")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout=remaining)
            except asyncio.TimeoutError:
                pass

    async def call(self, method: str, path: str, body: Any = None, csrf: bool = True) -> tuple[int, Any]:
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        async with self.http.request(method, self.url + path, json=body, headers=headers) as response:
            text = await response.text()
            return response.status, (json.loads(text) if text else None)

    async def cases(self, status: str | None = None) -> list[dict[str, Any]]:
        code, body = await self.call("GET", "/api/cases" + (f"?status={status}" if status else ""))
        assert code == 200, body
        return body["cases"]

    async def claim(self, case_id: int) -> dict[str, Any]:
        code, body = await self.call("POST", f"/api/cases/{case_id}/claim")
        assert code == 200, body
        return body["case"]

    async def write(self, case_id: int, text: str) -> dict[str, Any]:
        code, body = await self.call("POST", f"/api/cases/{case_id}/messages", {"text": text})
        assert code == 201, body
        return body["message"]

    async def close(self, case_id: int, outcome: str = "listened", referral: dict | None = None) -> dict[str, Any]:
        code, body = await self.call("POST", f"/api/cases/{case_id}/close", {"outcome": outcome, "referral": referral})
        assert code == 200, body
        return body["case"]
