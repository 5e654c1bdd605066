"""The internal API: the action server asks the gateway for a counsellor and fills in her case card.

It has a listener of its own (`MAAK_INTERNAL_HOST`:`MAAK_INTERNAL_PORT`, loopback by default),
never the public port: the internet cannot even reach the door. Every call also carries the
internal token (`Settings.internal_token`), which nothing else uses.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any, Awaitable, Callable

from aiohttp import web

from core.store import Store
from handoff.cases import PRIORITIES, CaseQueue

logger = logging.getLogger(__name__)

# Fields of her case that the action server may set while she waits.
CASE_FIELDS = {"region", "safe_to_chat", "intake_done", "summary"}
MAX_BODY_BYTES = 64 * 1024


class InternalApi:
    """The two calls the actions make, over the queue and the store."""

    def __init__(
        self, *, token: str, store: Store, queue: CaseQueue, online: Callable[[], Awaitable[set[str]]]
    ) -> None:
        self._expected = f"Bearer {token}".encode()
        self._store = store
        self._queue = queue
        self._online = online

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[self._authorised])
        app.router.add_post("/internal/handoff", self.handoff)
        app.router.add_post("/internal/conversations/{conversation_id}/case", self.update_case)
        return app

    @web.middleware
    async def _authorised(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                          ) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, self._expected):
            logger.warning("internal call without the token refused", extra={"event": "internal_unauthorised"})
            raise web.HTTPUnauthorized()
        return await handler(request)

    async def handoff(self, request: web.Request) -> web.Response:
        """The action server asks for a counsellor: open (or raise) her case, say where she stands."""
        body = await _json_body(request)
        conv = body.get("conversation_id")
        priority = body.get("priority", "normal")
        if not isinstance(conv, str) or not conv or priority not in PRIORITIES:
            return web.json_response({"error": "conversation_id and a known priority are required"}, status=400)
        contact = await self._store.run(self._store.get_contact, conv)
        region = body.get("region")
        case = await self._queue.open_case(
            conv,
            channel=contact["channel"] if contact else "api",
            priority=priority,
            lang=body.get("lang"),
            region=region if isinstance(region, str) and region != "unknown" else None,
            category=body.get("category"),
            danger=bool(body.get("danger")),
            summary=str(body.get("summary") or ""),
        )
        position = await self._queue.position(case) if case.status == "queued" else 0
        online = len(await self._online())
        if position and online:
            # The action tells her this place in line; the notices tell her when it changes.
            await self._queue.record_told_position(case.id, position)
        logger.info("handoff requested", extra={"event": "handoff", "status": case.priority})
        return web.json_response(
            {"case_id": case.id, "status": case.status, "position": position, "counsellors_online": online}
        )

    async def update_case(self, request: web.Request) -> web.Response:
        """The action server adds an answer she gave while waiting to her case card."""
        body = await _json_body(request)
        changes = {k: v for k, v in body.items() if k in CASE_FIELDS}
        case = await self._queue.open_case_for(request.match_info["conversation_id"])
        if case is None:
            return web.json_response({"updated": False})
        if changes:
            await self._queue.update(case.id, **changes)
        return web.json_response({"updated": True})


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise web.HTTPBadRequest(text='{"error": "body must be JSON"}', content_type="application/json") from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text='{"error": "body must be a JSON object"}', content_type="application/json")
    return body
