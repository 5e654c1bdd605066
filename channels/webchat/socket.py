"""The in-app chat over Socket.IO, speaking Rasa's socketio protocol.

`session_request` → `session_confirm`, `user_uttered` → `bot_uttered`, so existing Rasa web-chat
widgets and mobile SDKs connect unchanged. With Redis, every gateway replica can reach every
socket (python-socketio's Redis manager), so a counsellor on one replica reaches her on another.

A message sent while her phone is offline reaches no socket. A counsellor's message carries its
`seq`; when the page comes back it says the last `seq` it showed (`session_request {session_id,
seen}`) and `on_resume` sends her what she missed.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any, Awaitable, Callable

import socketio
from aiohttp import web

from channels.base import Channel, InboundMessage, OnMessage, OutboundMessage

logger = logging.getLogger(__name__)

_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# Large enough for a long message in any script, small enough that a flood cannot exhaust memory.
MAX_PACKET_BYTES = 64 * 1024
MAX_SEQ = 2**63 - 1

# Called with her session id and the last counsellor message `seq` her page showed.
OnResume = Callable[[str, int], Awaitable[None]]


def _page_metadata(data: dict[str, Any]) -> dict[str, Any]:
    """The language the page shows (a hint for ambiguous first messages); nothing else is kept."""
    metadata = data.get("metadata")
    lang = metadata.get("language") if isinstance(metadata, dict) else None
    return {"lang": lang} if isinstance(lang, str) and len(lang) <= 16 else {}


class WebChatChannel(Channel):
    """Socket.IO server for the web chat page and Rasa-compatible widgets."""

    name = "webchat"

    def __init__(
        self,
        on_message: OnMessage,
        on_resume: OnResume | None = None,
        redis_url: str | None = None,
        redis_channel: str = "socketio",
    ) -> None:
        manager = socketio.AsyncRedisManager(redis_url, channel=redis_channel) if redis_url else None
        self._on_message = on_message
        self._on_resume = on_resume
        self.sio = socketio.AsyncServer(
            async_mode="aiohttp",
            client_manager=manager,
            cors_allowed_origins="*",
            max_http_buffer_size=MAX_PACKET_BYTES,
            logger=False,
            engineio_logger=False,
        )
        self.sio.on("connect", self._connect)
        self.sio.on("session_request", self._session_request)
        self.sio.on("user_uttered", self._user_uttered)

    def attach(self, app: web.Application) -> None:
        self.sio.attach(app, socketio_path="socket.io")

    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        return True

    async def _session_request(self, sid: str, data: Any = None) -> None:
        requested = data.get("session_id") if isinstance(data, dict) else None
        session_id = requested if isinstance(requested, str) and _SESSION_ID.match(requested) else uuid.uuid4().hex
        await self._bind(sid, session_id)
        await self.sio.emit("session_confirm", session_id, room=sid)
        seen = data.get("seen") if isinstance(data, dict) and session_id == requested else None
        # Only a page coming back to its own conversation says `seen`; a new page or widget does not.
        if self._on_resume is not None and type(seen) is int and 0 <= seen <= MAX_SEQ:
            try:
                await self._on_resume(session_id, seen)
            except Exception:  # she is connected either way; what is missed stays on her case
                logger.exception("resending missed messages failed", extra={"event": "resume_failed"})

    async def _bind(self, sid: str, session_id: str) -> None:
        await self.sio.save_session(sid, {"session_id": session_id})
        await self.sio.enter_room(sid, session_id)

    async def _session_of(self, sid: str, data: dict[str, Any]) -> str:
        session = await self.sio.get_session(sid)
        if session.get("session_id"):
            return str(session["session_id"])
        requested = data.get("session_id")
        session_id = requested if isinstance(requested, str) and _SESSION_ID.match(requested) else uuid.uuid4().hex
        await self._bind(sid, session_id)
        await self.sio.emit("session_confirm", session_id, room=sid)
        return session_id

    async def _user_uttered(self, sid: str, data: Any = None) -> None:
        if not isinstance(data, dict):
            # Not Rasa's shape: take a bare value as the message itself, so she still gets a reply.
            data = {"message": data}
        session_id = await self._session_of(sid, data)
        if "message" not in data or data["message"] is None:
            # rasa-webchat sends this when the widget opens: a session, not a message from her.
            return
        text = data["message"]
        unsupported = None if isinstance(text, str) else type(text).__name__
        await self._on_message(
            InboundMessage(
                channel=self.name,
                sender=session_id,
                text=text if isinstance(text, str) else "",
                unsupported=unsupported,
                metadata=_page_metadata(data),
            )
        )

    async def _send(self, address: str, message: OutboundMessage) -> None:
        payload: dict[str, Any] = {"text": message.text}
        if message.buttons:
            payload["quick_replies"] = [
                {"content_type": "text", "title": b.title, "payload": b.payload} for b in message.buttons
            ]
        if message.custom:
            payload["custom"] = dict(message.custom)
        if message.seq is not None:
            payload["seq"] = message.seq
        await self.sio.emit("bot_uttered", payload, room=address)
