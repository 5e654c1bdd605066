"""The console's HTTP API (docs/console-api.md): login, the cases, and a counsellor's actions.

Every view of a case and every action is written to the audit log. Her words reach only the
counsellors who need them (see `auth.may_read`). What the counsellor writes goes to her through
`deliver`, on her own channel; a failed delivery is recorded on the message and shown.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Any, Awaitable, Callable

import yaml
from aiohttp import web

from core.store import Store, utcnow
from facts import default_facts
from handoff.callback import callback_windows
from handoff.cases import Case, CaseNotFound, CaseQueue, InvalidTransition
from handoff.console.auth import (
    CONSOLE_ROLES,
    Session,
    Sessions,
    check_origin,
    console_only,
    for_session,
    json_error,
    may_read,
)
from handoff.console.hub import ConsoleHub

logger = logging.getLogger(__name__)

# Messages of a case per answer, newest first; older ones with `?before=<id>`: a flooded case
# must not cost one answer (and the counsellor's browser) hundreds of MB.
MESSAGES_PAGE = 200
OUTCOMES_FILE = Path(__file__).resolve().parent.parent / "outcomes.yml"
MAX_MESSAGE_CHARS = 4000
MAX_NOTE_CHARS = 2000
STATUSES = ("queued", "claimed", "closed")

# Sends a counsellor's text (conversation id, text, stored message id) to the conversation;
# None when delivered, else a short reason.
Deliver = Callable[[str, str, int], Awaitable["str | None"]]


@lru_cache(maxsize=1)
def outcomes() -> list[dict[str, Any]]:
    """The outcome codes of handoff/outcomes.yml, checked."""
    entries = yaml.safe_load(OUTCOMES_FILE.read_text(encoding="utf-8"))["outcomes"]
    for entry in entries:
        if not isinstance(entry.get("code"), str) or not all(entry.get("label", {}).get(tag) for tag in ("fr", "ar", "en")):
            raise ValueError(f"{OUTCOMES_FILE.name}: every outcome needs a code and fr, ar, en labels: {entry!r}")
    return [{"code": e["code"], "label": e["label"]} for e in entries]


class ConsoleApi:
    """The handlers, with everything they need; routes are added by `add_console_routes`."""

    def __init__(
        self, *, store: Store, queue: CaseQueue, sessions: Sessions, hub: ConsoleHub,
        deliver: Deliver, sla_seconds: int,
    ) -> None:
        self.store = store
        self.queue = queue
        self.sessions = sessions
        self.hub = hub
        self.deliver = deliver
        self.sla_seconds = sla_seconds

    async def audit(self, session: Session, action: str, case_id: int | None = None) -> None:
        await self.store.run(self.store.add_audit, session.username, action, case_id)

    async def case_for(self, request: web.Request, session: Session) -> Case:
        try:
            case = await self.queue.get(int(request.match_info["case_id"]))
        except (ValueError, CaseNotFound) as exc:
            raise json_error(404, "no such case") from exc
        return case

    def require_holder(self, session: Session, case: Case) -> None:
        if case.status != "claimed":
            raise json_error(409, f"the case is {case.status}")
        if case.claimed_by != session.username and not session.supervises:
            raise json_error(403, "the case is held by another counsellor")


CONSOLE = web.AppKey("console", ConsoleApi)


def _api(request: web.Request) -> ConsoleApi:
    return request.app[CONSOLE]


def _sessions(request: web.Request) -> Sessions:
    return request.app[CONSOLE].sessions


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise json_error(400, "the body must be JSON") from exc
    if not isinstance(body, dict):
        raise json_error(400, "the body must be a JSON object")
    return body


def _text(body: dict[str, Any], key: str, limit: int, required: bool = True) -> str:
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise json_error(400, f"{key} must be a non-empty string")
    if len(value) > limit:
        raise json_error(400, f"{key} is longer than {limit} characters")
    return value.strip()


# -- accounts ---------------------------------------------------------------------------------
async def login(request: web.Request) -> web.Response:
    """JSON only, and never from another site's page: a form on a stranger's site cannot log a
    counsellor's browser into an account of its choosing."""
    check_origin(request, opaque_too=True)
    if request.content_type != "application/json":
        raise json_error(415, "the body must be JSON (Content-Type: application/json)")
    body = await _body(request)
    username = _text(body, "username", 64)
    password = _text(body, "password", 1024)
    sessions = _sessions(request)
    session, token = await sessions.login(request, username, password)
    response = web.json_response(session.as_json())
    sessions.set_cookie(request, response, token)
    return response


@console_only(_sessions, changes=False)
async def me(request: web.Request, session: Session) -> web.Response:
    return web.json_response(session.as_json())


@console_only(_sessions, changes=True)
async def logout(request: web.Request, session: Session) -> web.Response:
    await _sessions(request).logout(session)
    await _api(request).hub.end(session)
    response = web.Response(status=204)
    response.del_cookie("maak_session", path="/")
    return response


# -- cases ------------------------------------------------------------------------------------
@console_only(_sessions, changes=False)
async def list_cases(request: web.Request, session: Session) -> web.Response:
    api = _api(request)
    status = request.query.get("status")
    if status is not None and status not in STATUSES:
        raise json_error(400, "status must be queued, claimed or closed")
    cases = []
    for wanted in [status] if status else ["queued", "claimed"]:
        cases += await api.queue.list(wanted)
    if status == "closed" and not session.supervises:
        cases = [case for case in cases if case.claimed_by == session.username]
    await api.audit(session, "list_cases")
    return web.json_response({"cases": [for_session(session, api.queue.public(case)) for case in cases]})


@console_only(_sessions, changes=False)
async def get_case(request: web.Request, session: Session) -> web.Response:
    api = _api(request)
    case = await api.case_for(request, session)
    if not may_read(session, case.status, case.claimed_by):
        raise json_error(403, "the case is held by another counsellor")
    await api.audit(session, "view", case.id)
    before = _query_int(request, "before")
    limit = min(_query_int(request, "limit") or MESSAGES_PAGE, MESSAGES_PAGE)
    # One more than asked: whether older messages remain, without counting them all.
    messages = await api.queue.messages(case.id, before, limit + 1)
    return web.json_response({"case": api.queue.public(case), "messages": messages[-limit:],
                              "more": len(messages) > limit})


def _query_int(request: web.Request, key: str) -> int | None:
    raw = request.query.get(key)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) < 2**62:
        raise json_error(400, f"{key} must be a positive whole number")
    return int(raw)


@console_only(_sessions, changes=True)
async def claim(request: web.Request, session: Session) -> web.Response:
    api = _api(request)
    case = await api.case_for(request, session)
    try:
        case = await api.queue.claim(case.id, session.username)
    except InvalidTransition as exc:
        raise json_error(409, "already taken") from exc
    await api.audit(session, "claim", case.id)
    logger.info("case claimed", extra={"event": "case_claimed", "case_id": case.id})
    return web.json_response({"case": api.queue.public(case)})


@console_only(_sessions, changes=True)
async def post_message(request: web.Request, session: Session) -> web.Response:
    api = _api(request)
    case = await api.case_for(request, session)
    body = await _body(request)
    text = _text(body, "text", MAX_MESSAGE_CHARS)
    api.require_holder(session, case)
    contact = await api.store.run(api.store.get_contact, case.conversation_id)
    refusal = callback_windows().refusal(case.callback_window, contact["last_seen_at"] if contact else None, utcnow())
    if refusal is not None:
        if body.get("confirm") is not True:
            raise json_error(409, "she chose when she may be written to: confirm to write now", refusal)
        await api.audit(session, "message_outside_callback", case.id)
    message = await api.queue.append(case, "counsellor", text, counsellor=session.username)
    error = await api.deliver(case.conversation_id, text, message["id"])
    if error is not None:
        message = await api.queue.delivery_failed(case, message, error)
    await api.audit(session, "message", case.id)
    return web.json_response({"message": message}, status=201)


@console_only(_sessions, changes=True)
async def transfer(request: web.Request, session: Session) -> web.Response:
    api = _api(request)
    case = await api.case_for(request, session)
    body = await _body(request)
    to = body.get("to")
    if to is not None:
        colleague = await api.store.run(api.store.get_user, to) if isinstance(to, str) else None
        if colleague is None or colleague["role"] not in CONSOLE_ROLES:
            raise json_error(400, "to must be a colleague's name, or null for the queue")
    api.require_holder(session, case)
    try:
        case = await api.queue.transfer(case.id, to, holder=case.claimed_by)
    except InvalidTransition as exc:
        raise json_error(409, "the case changed meanwhile") from exc
    await api.audit(session, "transfer", case.id)
    return web.json_response({"case": api.queue.public(case)})


@console_only(_sessions, changes=True)
async def close(request: web.Request, session: Session) -> web.Response:
    api = _api(request)
    case = await api.case_for(request, session)
    body = await _body(request)
    outcome = body.get("outcome")
    if outcome not in {o["code"] for o in outcomes()}:
        raise json_error(400, "outcome must be one of the outcome codes")
    referral = body.get("referral")
    service_id, note = None, ""
    if referral is not None:
        if not isinstance(referral, dict):
            raise json_error(400, "referral must be an object or null")
        service_id = referral.get("service_id")
        if service_id not in {s.id for s in default_facts().services}:
            raise json_error(400, "referral.service_id must be a known service")
        note = _text(referral, "note", MAX_NOTE_CHARS, required=False)
    if case.status == "queued" and not session.supervises:
        raise json_error(409, "claim the case before closing it")
    if case.status == "claimed":
        api.require_holder(session, case)
    try:
        case = await api.queue.close(case.id, str(outcome))
    except InvalidTransition as exc:
        raise json_error(409, "the case is already closed") from exc
    if service_id:
        await api.queue.add_referral(case.id, service_id, note, session.username)
    await api.audit(session, "close", case.id)
    logger.info("case closed", extra={"event": "case_closed", "case_id": case.id})
    return web.json_response({"case": api.queue.public(case)})


@console_only(_sessions, changes=False)
async def config(request: web.Request, session: Session) -> web.Response:
    api = _api(request)
    facts = default_facts()
    colleagues = await api.store.run(api.store.list_users, CONSOLE_ROLES)
    online = await api.hub.online_usernames()
    return web.json_response(
        {
            "outcomes": outcomes(),
            "services": [
                {"id": s.id, "region": s.region,
                 "label": {lang: facts.text(s.name, lang) for lang in ("fr", "ar", "en")}}
                for s in facts.services
            ],
            "colleagues": [
                {"username": c["username"], "role": c["role"], "online": c["username"] in online}
                for c in colleagues
                if c["username"] != session.username
            ],
            "sla_seconds": api.sla_seconds,
            "callback": callback_windows().as_json(),
        }
    )


@console_only(_sessions, changes=False)
async def websocket(request: web.Request, session: Session) -> web.StreamResponse:
    return await _api(request).hub.serve(request, session)


async def _kept_by_no_cache(request: web.Request, response: web.StreamResponse) -> None:
    """Her words and her case cards never stay in a browser's or a proxy's cache: a shared office
    computer's history must not show them to the next person."""
    if request.path.startswith("/api/"):
        response.headers["Cache-Control"] = "no-store"


def add_console_routes(app: web.Application) -> None:
    """The API of docs/console-api.md; `app[CONSOLE]` is set when the resources open."""
    app.on_response_prepare.append(_kept_by_no_cache)
    app.router.add_post("/api/auth/login", login)
    app.router.add_get("/api/auth/me", me)
    app.router.add_post("/api/auth/logout", logout)
    app.router.add_get("/api/cases", list_cases)
    app.router.add_get("/api/cases/{case_id}", get_case)
    app.router.add_post("/api/cases/{case_id}/claim", claim)
    app.router.add_post("/api/cases/{case_id}/messages", post_message)
    app.router.add_post("/api/cases/{case_id}/transfer", transfer)
    app.router.add_post("/api/cases/{case_id}/close", close)
    app.router.add_get("/api/console/config", config)
    app.router.add_get("/api/console/ws", websocket)
