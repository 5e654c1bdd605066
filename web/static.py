"""Static files of Maak's pages, served with headers that keep nothing on the device.

Every response carries `Cache-Control: no-store`, `Referrer-Policy: no-referrer`,
`X-Content-Type-Options: nosniff` and a Content-Security-Policy limited to this origin, so a page
loads nothing from another host and leaves nothing behind in the browser's cache.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from aiohttp import web

# A static file name: one path segment, no leading dot, nothing that could climb out of its folder.
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
    ".wav": "audio/wav",
}
_TEXT_TYPES = {".html", ".js", ".css", ".svg", ".txt", ".json"}


def content_security_policy(host: str | None = None) -> str:
    """The pages' CSP: everything from this origin only, sockets included.

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
            "media-src 'self' data:",
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


def not_found(request: web.Request) -> web.Response:
    return web.Response(status=404, text="Not found", headers=security_headers(request))


async def file_response(request: web.Request, folder: Path, name: str) -> web.Response:
    """The file `name` of `folder` (resolved, no subfolders), or 404."""
    if not _NAME_RE.match(name):
        return not_found(request)
    path = (folder / name).resolve()
    if path.parent != folder.resolve() or not path.is_file():
        return not_found(request)
    suffix = path.suffix.lower()
    content_type = _CONTENT_TYPES.get(suffix)
    if content_type is None:
        return not_found(request)
    body = await asyncio.to_thread(path.read_bytes)
    return web.Response(
        body=body,
        content_type=content_type,
        charset="utf-8" if suffix in _TEXT_TYPES else None,
        headers=security_headers(request),
    )
