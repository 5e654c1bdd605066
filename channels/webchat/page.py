"""The discreet web chat page: `/chat`, the neutral `/today` page and their static files.

Only the HTTP side of the page lives here. The Socket.IO server the page talks to
(Rasa's socketio protocol on `/socket.io/`) is attached to the same aiohttp app elsewhere.

Every response carries headers that keep nothing on the device and load nothing from
another host: `Cache-Control: no-store`, `Referrer-Policy: no-referrer`,
`X-Content-Type-Options: nosniff` and a Content-Security-Policy limited to this origin.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from aiohttp import web

STATIC_DIR: Path = Path(__file__).resolve().parent / "static"

CHAT_PAGE = "chat.html"
TODAY_PAGE = "today.html"

# A static file name: one path segment, no leading dot, nothing that could climb out of STATIC_DIR.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)+$")

# A Host header fit to be echoed into the CSP (name or IPv4 or [IPv6], optional port).
_HOST_RE = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")

_CONTENT_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain",
    ".json": "application/json",
}
_TEXT_TYPES = {".html", ".js", ".css", ".svg", ".txt", ".json"}


def content_security_policy(host: str | None = None) -> str:
    """The page's CSP: everything from this origin only, the socket included.

    `'self'` already covers ws:/wss: to the same host in current browsers; the explicit
    ws:// and wss:// sources are added for older ones when the Host header is well formed.
    """
    connect = ["'self'"]
    if host and _HOST_RE.match(host):
        connect += [f"ws://{host}", f"wss://{host}"]
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src " + " ".join(connect),
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ]
    )


def security_headers(request: web.Request) -> dict[str, str]:
    return {
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": content_security_policy(request.host),
    }


def _not_found(request: web.Request) -> web.Response:
    return web.Response(status=404, text="Not found", headers=security_headers(request))


async def _file_response(request: web.Request, name: str) -> web.Response:
    if not _NAME_RE.match(name):
        return _not_found(request)
    path = (STATIC_DIR / name).resolve()
    if path.parent != STATIC_DIR or not path.is_file():
        return _not_found(request)
    suffix = path.suffix.lower()
    content_type = _CONTENT_TYPES.get(suffix)
    if content_type is None:
        return _not_found(request)
    body = await asyncio.to_thread(path.read_bytes)
    return web.Response(
        body=body,
        content_type=content_type,
        charset="utf-8" if suffix in _TEXT_TYPES else None,
        headers=security_headers(request),
    )


async def _chat(request: web.Request) -> web.Response:
    return await _file_response(request, CHAT_PAGE)


async def _today(request: web.Request) -> web.Response:
    return await _file_response(request, TODAY_PAGE)


async def _static(request: web.Request) -> web.Response:
    return await _file_response(request, request.match_info["name"])


def add_page_routes(app: web.Application) -> None:
    """Add `GET /chat`, `GET /today` and `GET /chat/static/{name}` to `app`."""
    app.router.add_get("/chat", _chat)
    app.router.add_get("/today", _today)
    app.router.add_get("/chat/static/{name}", _static)
