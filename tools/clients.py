"""A woman on the web chat and a counsellor on the console, as the pages speak to Maak: the real
python-socketio client and the console's HTTP API and live WebSocket. `maak bench` and the tests
use the same two clients; both record when each message arrived."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any, Callable

import aiohttp
import socketio

REPLY_TIMEOUT = 30.0
EVENT_TIMEOUT = 30.0
CONNECT_TIMEOUT = 10.0


class ConsoleRefused(RuntimeError):
    """The console did not let the counsellor in (no console API, or the login was refused)."""


class ChatClient:
    """One woman on the web chat. `received[i]` arrived at `arrivals[i]` (perf_counter seconds);
    a turn is over when the bot has been quiet for `quiet_seconds`."""

    def __init__(self, url: str, reconnect: bool = False, quiet_seconds: float = 0.6) -> None:
        self.url = url
        self.session_id = uuid.uuid4().hex
        self.quiet_seconds = quiet_seconds
        # With `reconnect`, she comes back to the same conversation after a gateway restart, as the page does.
        self.sio = socketio.AsyncClient(reconnection=reconnect, reconnection_delay=0.5, reconnection_delay_max=2)
        self.received: list[dict[str, Any]] = []
        self.arrivals: list[float] = []
        # How many times the server has confirmed her session: after a restart, a rise means she has
        # rejoined (the client's `connected` flag alone can still be stale from before the drop).
        self.confirmations = 0
        self.seen = 0  # the last counsellor message `seq` received, said on return as the page does
        self._arrived = asyncio.Event()
        self._confirmed = asyncio.Event()
        self.sio.on("bot_uttered", self._on_bot)
        self.sio.on("session_confirm", self._on_confirm)
        # On every connect, as the page does: with `reconnect`, that is her coming back after a restart.
        self.sio.on("connect", self._resume)

    async def _resume(self) -> None:
        request: dict[str, Any] = {"session_id": self.session_id}
        if self.confirmations:
            request["seen"] = self.seen
        await self.sio.emit("session_request", request)

    async def _on_confirm(self, data: Any) -> None:
        # The server's id is hers from now on (an id it did not issue is replaced), as on the page.
        if isinstance(data, str) and data:
            self.session_id = data
        self.confirmations += 1
        self._confirmed.set()

    async def _on_bot(self, data: Any) -> None:
        arrived = time.perf_counter()
        if not isinstance(data, dict):
            return
        if isinstance(data.get("seq"), int):
            self.seen = max(self.seen, data["seq"])
        self.received.append(data)
        self.arrivals.append(arrived)
        self._arrived.set()

    async def open(self) -> None:
        await self.sio.connect(self.url, socketio_path="socket.io", transports=["websocket"])
        await asyncio.wait_for(self._confirmed.wait(), timeout=CONNECT_TIMEOUT)

    async def close(self) -> None:
        await self.sio.disconnect()

    async def __aenter__(self) -> "ChatClient":
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def come_back(self) -> None:
        """Reconnect after `sio.disconnect()` (her phone lost the network), to the same conversation."""
        joined = self.confirmations
        await self.sio.connect(self.url, socketio_path="socket.io", transports=["websocket"])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CONNECT_TIMEOUT
        while self.confirmations == joined:
            assert loop.time() < deadline, "the session was not confirmed again"
            await asyncio.sleep(0.05)

    async def send(self, payload: Any) -> None:
        await self.sio.emit("user_uttered", payload)

    async def write(self, text: str) -> float:
        """Send `text` as her message; the moment it was sent (perf_counter seconds)."""
        sent = time.perf_counter()
        await self.send({"message": text, "session_id": self.session_id})
        return sent

    async def say(self, text: str, timeout: float = REPLY_TIMEOUT) -> list[dict[str, Any]]:
        """Send `text` and collect replies until the bot has been quiet for a moment."""
        start = len(self.received)
        await self.write(text)
        return await self.replies_since(start, timeout)

    async def first_reply_since(self, start: int, timeout: float = REPLY_TIMEOUT) -> float:
        """When the first message after index `start` arrived; raises TimeoutError."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.received) <= start:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise asyncio.TimeoutError
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout=remaining)
            except asyncio.TimeoutError:
                pass
        return self.arrivals[start]

    async def quiet(self) -> None:
        """Wait until the bot has been quiet for `quiet_seconds` (the rest of a turn)."""
        while True:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout=self.quiet_seconds)
            except asyncio.TimeoutError:
                return

    async def replies_since(self, start: int, timeout: float = REPLY_TIMEOUT) -> list[dict[str, Any]]:
        """The whole turn after index `start`; fails when the bot does not answer within `timeout`."""
        try:
            await self.first_reply_since(start, timeout)
        except asyncio.TimeoutError:
            raise AssertionError("the bot did not answer") from None
        await self.quiet()
        return self.received[start:]


def texts(replies: list[dict[str, Any]]) -> str:
    return "\n".join(r.get("text") or "" for r in replies)


def payloads(replies: list[dict[str, Any]]) -> list[str]:
    return [q["payload"] for r in replies for q in r.get("quick_replies") or []]


class ConsoleClient:
    """One logged-in counsellor: `events[i]`, pushed by the live WebSocket, arrived at `arrivals[i]`."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.url = url.rstrip("/")
        self.username = username
        self.password = password
        # unsafe=True: the cookie jar otherwise refuses cookies from an IP address such as 127.0.0.1.
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""
        self.events: list[dict[str, Any]] = []
        self.arrivals: list[float] = []
        self._arrived = asyncio.Event()
        self._ws: aiohttp.ClientWebSocketResponse[bool] | None = None
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> "ConsoleClient":
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close_session()

    async def open(self) -> None:
        """Log in and listen to the live feed."""
        try:
            await self.login()
            await self.connect()
        except BaseException:
            await self.http.close()
            raise

    async def close_session(self) -> None:
        await self.disconnect()
        await self.http.close()

    async def login(self) -> None:
        async with self.http.post(f"{self.url}/api/auth/login",
                                  json={"username": self.username, "password": self.password}) as response:
            if response.status == 404:
                raise ConsoleRefused(f"{self.url} has no console API (POST /api/auth/login: 404)")
            if response.status != 200:
                raise ConsoleRefused(f"login as {self.username!r} refused ({response.status}: {await response.text()})")
            self.csrf = (await response.json())["csrf_token"]

    async def connect(self) -> None:
        self._ws = await self.http.ws_connect(f"{self.url}/api/console/ws", heartbeat=20)
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

    async def _read(self, ws: aiohttp.ClientWebSocketResponse[bool]) -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                # The arrival time first: decoding is the client's cost, not Maak's.
                arrived = time.perf_counter()
                self.events.append(json.loads(msg.data))
                self.arrivals.append(arrived)
                self._arrived.set()

    async def changed(self, timeout: float) -> None:
        """Wait up to `timeout` for the next event."""
        self._arrived.clear()
        try:
            await asyncio.wait_for(self._arrived.wait(), timeout=timeout)
        except asyncio.TimeoutError:
            pass

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
            await self.changed(remaining)

    async def call(self, method: str, path: str, body: Any = None, csrf: bool = True) -> tuple[int, Any]:
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        async with self.http.request(method, self.url + path, json=body, headers=headers) as response:
            text = await response.text()
            return response.status, (json.loads(text) if text else None)

    async def cases(self, status: str | None = None) -> list[dict[str, Any]]:
        code, body = await self.call("GET", "/api/cases" + (f"?status={status}" if status else ""))
        assert code == 200, body
        cases: list[dict[str, Any]] = body["cases"]
        return cases

    async def claim(self, case_id: int) -> dict[str, Any]:
        code, body = await self.call("POST", f"/api/cases/{case_id}/claim")
        assert code == 200, body
        case: dict[str, Any] = body["case"]
        return case

    async def write(self, case_id: int, text: str) -> dict[str, Any]:
        code, body = await self.call("POST", f"/api/cases/{case_id}/messages", {"text": text})
        assert code == 201, body
        message: dict[str, Any] = body["message"]
        return message

    async def close(self, case_id: int, outcome: str = "listened", referral: dict[str, Any] | None = None) -> dict[str, Any]:
        code, body = await self.call("POST", f"/api/cases/{case_id}/close", {"outcome": outcome, "referral": referral})
        assert code == 200, body
        case: dict[str, Any] = body["case"]
        return case
