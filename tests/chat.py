"""A web-chat client for tests: the real python-socketio client speaking Rasa's socketio protocol."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import socketio

QUIET_SECONDS = 0.6
REPLY_TIMEOUT = 30.0


class ChatClient:
    """One woman on the web chat. `say()` returns the bot's messages for that turn."""

    def __init__(self, url: str, reconnect: bool = False) -> None:
        self.url = url
        self.session_id = uuid.uuid4().hex
        # With `reconnect`, she comes back to the same conversation after a gateway restart, as the page does.
        self.sio = socketio.AsyncClient(reconnection=reconnect, reconnection_delay=0.5, reconnection_delay_max=2)
        self.received: list[dict[str, Any]] = []
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

    async def _on_confirm(self, _data: Any) -> None:
        self.confirmations += 1
        self._confirmed.set()

    async def _on_bot(self, data: dict[str, Any]) -> None:
        if isinstance(data.get("seq"), int):
            self.seen = max(self.seen, data["seq"])
        self.received.append(data)
        self._arrived.set()

    async def __aenter__(self) -> "ChatClient":
        await self.sio.connect(self.url, socketio_path="socket.io", transports=["websocket"])
        await asyncio.wait_for(self._confirmed.wait(), timeout=10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.sio.disconnect()

    async def come_back(self) -> None:
        """Reconnect after `sio.disconnect()` (her phone lost the network), to the same conversation."""
        joined = self.confirmations
        await self.sio.connect(self.url, socketio_path="socket.io", transports=["websocket"])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while self.confirmations == joined:
            assert loop.time() < deadline, "the session was not confirmed again"
            await asyncio.sleep(0.05)

    async def send(self, payload: Any) -> None:
        await self.sio.emit("user_uttered", payload)

    async def say(self, text: str, timeout: float = REPLY_TIMEOUT) -> list[dict[str, Any]]:
        """Send `text` and collect replies until the bot has been quiet for a moment."""
        start = len(self.received)
        self._arrived.clear()
        await self.send({"message": text, "session_id": self.session_id})
        return await self.replies_since(start, timeout)

    async def replies_since(self, start: int, timeout: float = REPLY_TIMEOUT) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.received) == start:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError("the bot did not answer")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout=remaining)
            except asyncio.TimeoutError:
                pass
        while True:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout=QUIET_SECONDS)
            except asyncio.TimeoutError:
                return self.received[start:]


def texts(replies: list[dict[str, Any]]) -> str:
    return "\n".join(r.get("text") or "" for r in replies)


def payloads(replies: list[dict[str, Any]]) -> list[str]:
    return [q["payload"] for r in replies for q in r.get("quick_replies") or []]
