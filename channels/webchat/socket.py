"""The in-app chat over Socket.IO, speaking Rasa's socketio protocol.

`session_request` → `session_confirm`, `user_uttered` → `bot_uttered`, so existing Rasa web-chat
widgets and mobile SDKs connect unchanged. With Redis, every gateway replica can reach every
socket (python-socketio's Redis manager), so a counsellor on one replica reaches her on another;
what crosses Redis is sealed with the data key (`SealedJson`), as the console's events are.

Session ids are the server's: random, signed with the secret (`SessionIds`). A page or widget
that asks with an id the server did not issue gets a fresh one in `session_confirm` (rasa-webchat
and Maak's page adopt it), so nobody reaches a conversation by guessing or copying a made-up id.

New conversations are counted per client address (`admit`): past the limit, her messages carry
`limited` in their metadata and the router keeps them for a human without spending the bot. Open
sockets are counted per address too (`Connections`): past that limit a new one is refused at the
handshake, and her page tries again every few seconds with what she typed kept on it.

A message sent while her phone is offline reaches no socket. A counsellor's message carries its
`seq`; when the page comes back it says the last `seq` it showed (`session_request {session_id,
seen}`) and `on_resume` sends her what she missed — for an id the server issued, at most every
few seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from typing import Any, Awaitable, Callable

import socketio
from aiohttp import web

from channels.base import Channel, InboundMessage, OnMessage, OutboundMessage
from core.privacy import Cipher
from core.proxies import Network, client_address, in_networks

logger = logging.getLogger(__name__)

_URLSAFE = re.compile(r"^[A-Za-z0-9_-]+$")
# A page asks again for what it missed at most this often (each ask reads her case).
RESUME_EVERY_SECONDS = 2.0
# Large enough for a long message in any script, small enough that a flood cannot exhaust memory.
MAX_PACKET_BYTES = 64 * 1024
MAX_SEQ = 2**63 - 1

# Her messages handled at once on one socket. A woman waits for the replies; a script sending
# without pause is closed here (each message it sent is still handled) and the memory its waiting
# messages hold stays bounded. Her page reconnects on its own.
MAX_IN_FLIGHT = 50
# A refused connection is logged at most this often: a flood must not flood the log too.
REFUSALS_LOGGED_EVERY_SECONDS = 60.0

# Called with her session id and the last counsellor message `seq` her page showed.
OnResume = Callable[[str, int], Awaitable[None]]
# Called with a client address starting a new conversation: False when the bot should not be
# spent on it (a flood from that address); her messages then say so in their metadata.
Admit = Callable[[str], Awaitable[bool]]


def _page_metadata(data: dict[str, Any]) -> dict[str, Any]:
    """The language the page shows (a hint for ambiguous first messages); nothing else is kept."""
    metadata = data.get("metadata")
    lang = metadata.get("language") if isinstance(metadata, dict) else None
    return {"lang": lang} if isinstance(lang, str) and len(lang) <= 16 else {}


class SealedJson:
    """The Redis manager's messages between replicas (bot and counsellor texts, her session id as
    the room), encrypted with the data key. A message no key opens is dropped by the manager."""

    def __init__(self, cipher: Cipher) -> None:
        self._cipher = cipher

    def dumps(self, data: Any, **_: Any) -> str:
        return self._cipher.encrypt(json.dumps(data))

    def loads(self, message: str | bytes, **_: Any) -> Any:
        return json.loads(self._cipher.decrypt(message.decode() if isinstance(message, bytes) else message))


class SealedRedisManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    """python-socketio's Redis manager, its messages sealed (`SealedJson`).

    The manager takes a `json` module, but `set_server` replaces it with the server's own: it is
    put back there.
    """

    def __init__(self, url: str, channel: str, cipher: Cipher) -> None:
        self._sealed = SealedJson(cipher)
        super().__init__(url, channel=channel, json=self._sealed)

    def set_server(self, server: Any) -> None:
        super().set_server(server)
        self.json = self._sealed


class SessionIds:
    """Web-chat session ids: 24 random characters, then 22 of an HMAC of them with the secret."""

    RANDOM, SIGNATURE = 24, 22

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def new(self) -> str:
        random = secrets.token_urlsafe(18)
        return random + self._sign(random)

    def issued(self, value: Any) -> bool:
        """True for an id this server (or a replica with the same secret) issued."""
        if not isinstance(value, str) or len(value) != self.RANDOM + self.SIGNATURE or not _URLSAFE.match(value):
            return False
        return hmac.compare_digest(value[self.RANDOM:], self._sign(value[:self.RANDOM]))

    def _sign(self, random: str) -> str:
        digest = hmac.new(self._secret, b"webchat-session:" + random.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


class Connections:
    """The sockets open from each client address in this gateway, and whether one more may open.

    Each open socket holds memory and a file descriptor in this process, so the count is per
    gateway, not shared. Exempt addresses (load tests, a kiosk) are not counted. Addresses stay in
    memory only, as long as a socket from them is open.
    """

    def __init__(self, limit: int, trusted: tuple[Network, ...] = (), exempt: tuple[Network, ...] = ()) -> None:
        self.limit = limit
        self._trusted = trusted
        self._exempt = exempt
        self._per_address: dict[str, int] = {}
        self._address_of: dict[str, str] = {}
        self._refusal_logged = -REFUSALS_LOGGED_EVERY_SECONDS

    def open(self, eio_sid: str, environ: dict[str, Any]) -> bool:
        """Count a new socket in; False (and nothing counted) when its address is at the limit."""
        request = environ.get("aiohttp.request")
        address = client_address(request, self._trusted) if request is not None else ""
        if not address or in_networks(address, self._exempt):
            return True
        count = self._per_address.get(address, 0)
        if count >= self.limit:
            now = time.monotonic()
            if now - self._refusal_logged >= REFUSALS_LOGGED_EVERY_SECONDS:
                self._refusal_logged = now
                logger.warning("web-chat sockets from one address at the limit: new ones refused",
                               extra={"event": "chat_connections_limited"})
            return False
        self._per_address[address] = count + 1
        self._address_of[eio_sid] = address
        return True

    def close(self, eio_sid: str) -> None:
        address = self._address_of.pop(eio_sid, None)
        if address is None:
            return
        left = self._per_address[address] - 1
        if left:
            self._per_address[address] = left
        else:
            del self._per_address[address]


class _CappedServer(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio's server, refusing a socket past its address's limit at the Engine.IO
    handshake (HTTP 401), before a Socket.IO session or any handler is set up for it."""

    def __init__(self, connections: Connections | None, **options: Any) -> None:
        super().__init__(**options)
        self._connections = connections

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> bool | None:
        if self._connections is not None and not self._connections.open(eio_sid, environ):
            return False
        return await super()._handle_eio_connect(eio_sid, environ)  # type: ignore[no-any-return]

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any = None) -> None:
        try:
            await super()._handle_eio_disconnect(eio_sid, reason)
        finally:
            if self._connections is not None:
                self._connections.close(eio_sid)


class WebChatChannel(Channel):
    """Socket.IO server for the web chat page and Rasa-compatible widgets."""

    name = "webchat"

    def __init__(
        self,
        secret: bytes,
        cipher: Cipher,
        on_message: OnMessage,
        on_resume: OnResume | None = None,
        redis_url: str | None = None,
        redis_channel: str = "socketio",
        admit: Admit | None = None,
        trusted_proxies: tuple[Network, ...] = (),
        connections: Connections | None = None,
    ) -> None:
        manager = SealedRedisManager(redis_url, redis_channel, cipher) if redis_url else None
        self._ids = SessionIds(secret)
        self._admit = admit
        self._trusted = trusted_proxies
        self._on_message = on_message
        self._on_resume = on_resume
        self._resumed: dict[str, float] = {}
        self._in_flight: dict[str, int] = {}
        self.sio = _CappedServer(
            connections,
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
        # Where the socket comes from, for the per-address limit; kept with the socket only.
        request = environ.get("aiohttp.request")
        address = client_address(request, self._trusted) if request is not None else ""
        await self.sio.save_session(sid, {"address": address})
        return True

    async def _session_request(self, sid: str, data: Any = None) -> None:
        requested = data.get("session_id") if isinstance(data, dict) else None
        session_id = await self._confirm(sid, requested)
        seen = data.get("seen") if isinstance(data, dict) and session_id == requested else None
        # Only a page coming back to its own conversation says `seen`; a new page or widget does not.
        if self._on_resume is not None and type(seen) is int and 0 <= seen <= MAX_SEQ and self._may_resume(session_id):
            try:
                await self._on_resume(session_id, seen)
            except Exception:  # she is connected either way; what is missed stays on her case
                logger.exception("resending missed messages failed", extra={"event": "resume_failed"})

    async def _confirm(self, sid: str, requested: Any) -> str:
        """Bind the socket to the id asked for if the server issued it, else to a new one; say which."""
        if self._ids.issued(requested):
            session_id, limited = requested, False
        else:
            session_id = self._ids.new()
            address = (await self.sio.get_session(sid)).get("address", "")
            limited = self._admit is not None and not await self._admit(address)
        await self._bind(sid, session_id, limited)
        await self.sio.emit("session_confirm", session_id, room=sid)
        return str(session_id)

    def _may_resume(self, session_id: str) -> bool:
        now = time.monotonic()
        if len(self._resumed) > 10_000:
            self._resumed = {k: t for k, t in self._resumed.items() if now - t < RESUME_EVERY_SECONDS}
        if now - self._resumed.get(session_id, -RESUME_EVERY_SECONDS) < RESUME_EVERY_SECONDS:
            return False
        self._resumed[session_id] = now
        return True

    async def _bind(self, sid: str, session_id: str, limited: bool) -> None:
        """This socket speaks for `session_id` only: a room it was in before is left, so that one
        socket asking again and again cannot collect rooms (and her replies) without end."""
        session = await self.sio.get_session(sid)
        previous = session.get("session_id")
        if previous and previous != session_id:
            await self.sio.leave_room(sid, previous)
        await self.sio.save_session(sid, {**session, "session_id": session_id, "limited": limited})
        await self.sio.enter_room(sid, session_id)

    async def _session_of(self, sid: str, data: dict[str, Any]) -> str:
        session = await self.sio.get_session(sid)
        if session.get("session_id"):
            return str(session["session_id"])
        return await self._confirm(sid, data.get("session_id"))

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
        message = InboundMessage(
            channel=self.name,
            sender=session_id,
            text=text if isinstance(text, str) else "",
            unsupported=unsupported,
            metadata={**_page_metadata(data), **({"limited": True} if await self._limited(sid) else {})},
        )
        in_flight = self._in_flight.get(sid, 0) + 1
        self._in_flight[sid] = in_flight
        try:
            if in_flight == MAX_IN_FLIGHT + 1:
                logger.warning("a web-chat socket sent faster than it is answered: closed",
                               extra={"event": "chat_socket_flood"})
                await self.sio.disconnect(sid)
            await self._on_message(message)
        finally:
            left = self._in_flight[sid] - 1
            if left:
                self._in_flight[sid] = left
            else:
                del self._in_flight[sid]

    async def _limited(self, sid: str) -> bool:
        return bool((await self.sio.get_session(sid)).get("limited"))

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
