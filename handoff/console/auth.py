"""Console sessions: login with a rate limit, a server-side session cookie, and CSRF checks.

The cookie is HttpOnly and SameSite=Strict; the database keeps only its SHA-256, so sessions
hold across replicas and restarts, and a leaked table opens nothing. Every request that changes
something must echo the session's CSRF token in `X-CSRF-Token`, and a cross-site `Origin` is
refused outright.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Awaitable, Callable, Mapping

from aiohttp import web

from core.proxies import Network, client_address
from core.store import Store
from handoff.accounts import check_password

logger = logging.getLogger(__name__)

COOKIE = "maak_session"
SESSION_LIFETIME = timedelta(hours=12)
# Failed logins allowed within the window for one name from one address: a stranger elsewhere
# cannot lock a counsellor out.
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_NAME = 5
# Past this many failures from one address (whatever the names), its logins are slowed, not refused:
# behind a shared office or carrier address, the counsellors' right passwords still open.
MANY_FAILURES_PER_ADDRESS = 20
ADDRESS_SLOWDOWN_SECONDS = 2.0
# Each password check costs 64 MiB and a core for a fraction of a second: a few at once, a few
# more waiting, and past that a login is told to come back (memory stays bounded under a flood).
HASHES_AT_ONCE = 2
LOGINS_WAITING = 16
CONSOLE_ROLES = ("counsellor", "supervisor", "admin")
SUPERVISING_ROLES = ("supervisor", "admin")


@dataclass(frozen=True)
class Session:
    username: str
    role: str
    csrf_token: str
    # The stored form of the cookie: a live console checks with it that the session still stands.
    token_hash: str = field(default="", repr=False)

    @property
    def supervises(self) -> bool:
        return self.role in SUPERVISING_ROLES

    def as_json(self) -> dict[str, str]:
        return {"username": self.username, "role": self.role, "csrf_token": self.csrf_token}


def json_error(
    status: int, reason: str, details: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None
) -> web.HTTPException:
    """An HTTP error whose body is `{"error": reason}`, with `details` beside it."""
    kinds = {400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 403: web.HTTPForbidden, 404: web.HTTPNotFound,
             409: web.HTTPConflict, 415: web.HTTPUnsupportedMediaType, 429: web.HTTPTooManyRequests,
             503: web.HTTPServiceUnavailable}
    body = {**(details or {}), "error": reason}
    return kinds[status](text=json.dumps(body), content_type="application/json", headers=headers or None)


def may_read(session: Session, status: str, claimed_by: str | None) -> bool:
    """Need to know: a queued case is open to every counsellor (to choose one); a claimed or
    closed case only to the counsellor who holds or held it, and to supervisors."""
    return session.supervises or status == "queued" or claimed_by == session.username


def for_session(session: Session, public: dict[str, Any]) -> dict[str, Any]:
    """The case as the console shows it (`CaseQueue.public`), as this counsellor may see it:
    without her words when it is not hers to read."""
    return public if may_read(session, public["status"], public["claimed_by"]) else {**public, "summary": ""}


def _digest(secret: bytes, value: str) -> str:
    return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()


class Sessions:
    """Logs counsellors in and out and finds the session of a request."""

    def __init__(
        self, store: Store, secret: bytes, trusted_proxies: tuple[Network, ...] = (), secure_cookies: bool = False
    ) -> None:
        self._store = store
        self._secret = secret
        self._trusted = trusted_proxies
        self._secure = secure_cookies
        self._hashing = asyncio.Semaphore(HASHES_AT_ONCE)
        self._waiting = 0

    async def login(self, request: web.Request, username: str, password: str) -> tuple[Session, str]:
        """Check the password (rate-limited); returns the session and the cookie value.

        Raises:
            HTTPException: 429 when this name failed too often from this address, 401 for a wrong
                name or password, 403 for an account that may not use the console, 503 when too
                many logins are being checked at once.
        """
        address = client_address(request, self._trusted)
        pair_key = _digest(self._secret, f"pair:{username.lower()}\0{address}")
        ip_key = _digest(self._secret, "ip:" + address)
        by_pair, by_ip = await self._store.run(self._store.login_failures_since, pair_key, ip_key, FAILURE_WINDOW)
        if by_pair >= MAX_FAILURES_PER_NAME:
            logger.warning("login refused: too many failures", extra={"event": "login_rate_limited"})
            raise json_error(429, "too many attempts, try again later",
                             headers={"Retry-After": str(int(FAILURE_WINDOW.total_seconds()))})
        if by_ip >= MANY_FAILURES_PER_ADDRESS:
            await asyncio.sleep(ADDRESS_SLOWDOWN_SECONDS)
        user = await self._check(username, password)
        if user is None:
            await self._store.run(self._store.add_login_failure, pair_key, ip_key)
            logger.info("login failed", extra={"event": "login_failed"})
            if by_pair + 1 == MAX_FAILURES_PER_NAME or by_ip + 1 == MANY_FAILURES_PER_ADDRESS:
                # Someone may be guessing passwords: the operator's alerts watch for this event.
                logger.warning("many failed logins", extra={"event": "login_failures_alert"})
            raise json_error(401, "wrong name or password")
        if user["role"] not in CONSOLE_ROLES:
            raise json_error(403, "this account cannot use the console")
        await self._store.run(self._store.clear_login_failures, pair_key)
        token = secrets.token_urlsafe(32)
        session = Session(user["username"], user["role"], secrets.token_urlsafe(24), _digest(self._secret, token))
        await self._store.run(
            self._store.add_session, session.token_hash, session.username, session.csrf_token, SESSION_LIFETIME
        )
        await self._store.run(self._store.add_audit, session.username, "login")
        return session, token

    async def _check(self, username: str, password: str) -> dict[str, Any] | None:
        """The password check, a bounded number at once."""
        if self._waiting >= HASHES_AT_ONCE + LOGINS_WAITING:
            logger.warning("login refused: too many at once", extra={"event": "login_busy"})
            raise json_error(503, "busy, try again in a moment", headers={"Retry-After": "5"})
        self._waiting += 1
        try:
            async with self._hashing:
                return await self._store.run(check_password, self._store, username, password)
        finally:
            self._waiting -= 1

    async def current(self, request: web.Request) -> Session | None:
        token = request.cookies.get(COOKIE)
        if not token or len(token) > 200:
            return None
        token_hash = _digest(self._secret, token)
        row = await self._store.run(self._store.get_session, token_hash)
        if row is None or row["role"] not in CONSOLE_ROLES:
            return None
        return Session(row["username"], row["role"], row["csrf_token"], token_hash)

    async def still_valid(self, session: Session) -> bool:
        """The session has not expired, been logged out, or lost its account."""
        row = await self._store.run(self._store.get_session, session.token_hash)
        return row is not None and row["role"] in CONSOLE_ROLES

    async def logout(self, session: Session) -> None:
        await self._store.run(self._store.delete_session, session.token_hash)

    def set_cookie(self, request: web.Request, response: web.StreamResponse, token: str) -> None:
        response.set_cookie(
            COOKIE, token, httponly=True, samesite="Strict", path="/", secure=self._secure or request.secure,
            max_age=int(SESSION_LIFETIME.total_seconds()),
        )


def check_origin(request: web.Request, *, opaque_too: bool = False) -> None:
    """Refuse a request sent by another site's page (the cookie is SameSite, this is a second lock).

    A request with no `Origin` (a script, not a browser) passes. `opaque_too` also refuses
    `Origin: null`, which a sandboxed frame on any site sends.
    """
    origin = request.headers.get("Origin")
    if origin and (opaque_too or origin != "null"):
        expected = {f"{scheme}://{request.host}" for scheme in ("http", "https")}
        if origin not in expected:
            raise json_error(403, "cross-site request")


Handler = Callable[[web.Request, Session], Awaitable[web.StreamResponse]]
Guarded = Callable[[web.Request], Awaitable[web.StreamResponse]]


def console_only(sessions_of: Callable[[web.Request], Sessions], *, changes: bool) -> Callable[[Handler], Guarded]:
    """Decorate an API handler: a console session is required, and for changes a CSRF token."""

    def decorate(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            check_origin(request)
            session = await sessions_of(request).current(request)
            if session is None:
                raise json_error(401, "not logged in")
            if changes:
                sent = request.headers.get("X-CSRF-Token", "")
                if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
                    raise json_error(403, "csrf")
            return await handler(request, session)

        wrapped.__name__ = handler.__name__
        wrapped.__doc__ = handler.__doc__
        return wrapped

    return decorate
