"""The console's live events: one WebSocket per open console, fed by the case event bus.

A connected console also marks its counsellor online (in the database, so every replica knows),
which decides whether a woman asking for a counsellor hears that nobody is online right now.
A console's feed ends with its session: logged out, expired, or its account removed. The first
time a feed shows a counsellor her words on a case (a queued case's summary, a message), it is
written to the audit log, as a view of the case through the API is.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from typing import Any, Awaitable, Callable

from aiohttp import WSMsgType, web

from core.store import Store
from handoff.bus import Event, LocalBus
from handoff.console.auth import CONSOLE_ROLES, Session, for_session, may_read

logger = logging.getLogger(__name__)

PRESENCE_EVERY_SECONDS = 15
# Online = seen within this; a console that vanished without closing drops out after it.
ONLINE_WITHIN = timedelta(seconds=45)
MAX_CLIENT_MESSAGE = 4096
# Close code for a feed whose session ended; the page then finds its session gone and logs in again.
SESSION_ENDED = 4401


class ConsoleHub:
    """Sends every case event to every open console, as far as each counsellor may read it."""

    def __init__(self, store: Store, bus: LocalBus, still_valid: Callable[[Session], Awaitable[bool]]) -> None:
        self._store = store
        self._still_valid = still_valid
        self._sockets: dict[web.WebSocketResponse, Session] = {}
        # The cases whose texts each feed has shown, so that each is audited once per feed.
        self._shown: dict[web.WebSocketResponse, set[int]] = {}
        bus.subscribe(self.broadcast)

    async def online_usernames(self) -> set[str]:
        """Counsellors with a console open on any replica."""
        return set(await self._store.run(self._store.users_online, CONSOLE_ROLES, ONLINE_WITHIN))

    async def broadcast(self, event: Event) -> None:
        for ws, session in list(self._sockets.items()):
            visible = _visible(event, session)
            if visible is None:
                continue
            try:
                await ws.send_str(json.dumps(visible, ensure_ascii=False))
            except (ConnectionError, RuntimeError):
                self._forget(ws)
                continue
            await self._audit_shown(ws, session, visible)

    async def _audit_shown(self, ws: web.WebSocketResponse, session: Session, shown: Event) -> None:
        case = shown.get("case")
        if not isinstance(case, dict) or not (case.get("summary") or shown.get("type") == "message"):
            return
        seen = self._shown.setdefault(ws, set())
        if case["id"] in seen:
            return
        seen.add(case["id"])
        try:
            await self._store.run(self._store.add_audit, session.username, "feed", case["id"])
        except Exception:
            logger.exception("feed view not audited", extra={"event": "audit_failed"})

    def _forget(self, ws: web.WebSocketResponse) -> None:
        self._sockets.pop(ws, None)
        self._shown.pop(ws, None)

    async def keep_presence(self) -> None:
        """Until cancelled: end the feeds whose session has ended, refresh the online mark of the others."""
        while True:
            try:
                await self._end_lapsed()
                for username in {s.username for s in self._sockets.values()}:
                    await self._store.run(self._store.touch_user, username)
            except Exception:
                logger.exception("presence not recorded", extra={"event": "presence_failed"})
            await asyncio.sleep(PRESENCE_EVERY_SECONDS)

    async def end(self, session: Session) -> None:
        """Close this session's feeds on this replica (other replicas notice within seconds)."""
        for ws, held in list(self._sockets.items()):
            if held.token_hash == session.token_hash:
                await self._close(ws)

    async def _end_lapsed(self) -> None:
        checked: dict[str, bool] = {}
        for ws, session in list(self._sockets.items()):
            if session.token_hash not in checked:
                checked[session.token_hash] = await self._still_valid(session)
            if not checked[session.token_hash]:
                await self._close(ws)

    async def _close(self, ws: web.WebSocketResponse) -> None:
        # Out of the list first: not one more event reaches a session that has ended.
        self._forget(ws)
        logger.info("console feed ended with its session", extra={"event": "console_session_ended"})
        await ws.close(code=SESSION_ENDED, message=b"session ended")

    async def close_all(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=1001, message=b"server shutdown")

    async def serve(self, request: web.Request, session: Session) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=20, max_msg_size=MAX_CLIENT_MESSAGE)
        await ws.prepare(request)
        self._sockets[ws] = session
        await self._store.run(self._store.touch_user, session.username)
        logger.info("console connected", extra={"event": "console_connected"})
        try:
            await ws.send_json({"type": "hello", "username": session.username, "role": session.role})
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    kind = json.loads(msg.data).get("type")
                except (ValueError, AttributeError):
                    await ws.send_json({"type": "error", "error": "messages must be JSON objects"})
                    continue
                if kind == "ping":
                    await ws.send_json({"type": "pong"})
        finally:
            self._forget(ws)
            if session.username not in {s.username for s in self._sockets.values()}:
                # Offline at once, so that nobody is told a counsellor is coming when none is there.
                # (A console of hers on another replica marks her online again within seconds.)
                await self._store.run(self._store.mark_offline, session.username)
            logger.info("console disconnected", extra={"event": "console_disconnected"})
        return ws


def _visible(event: Event, session: Session) -> dict[str, Any] | None:
    case = event.get("case")
    if not isinstance(case, dict):
        return event
    if event.get("type") == "message" and not may_read(session, case["status"], case["claimed_by"]):
        return None
    return {**event, "case": for_session(session, case)}
