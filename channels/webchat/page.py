"""The discreet web chat page: `/chat`, the neutral `/today` page and their static files.

Only the HTTP side of the page lives here. The Socket.IO server the page talks to
(Rasa's socketio protocol on `/socket.io/`) is attached to the same aiohttp app elsewhere.
Headers that keep nothing on the device come from `web.static`.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from web.static import file_response

STATIC_DIR: Path = Path(__file__).resolve().parent / "static"

CHAT_PAGE = "chat.html"
TODAY_PAGE = "today.html"


async def _chat(request: web.Request) -> web.Response:
    return await file_response(request, STATIC_DIR, CHAT_PAGE)


async def _today(request: web.Request) -> web.Response:
    return await file_response(request, STATIC_DIR, TODAY_PAGE)


async def _static(request: web.Request) -> web.Response:
    return await file_response(request, STATIC_DIR, request.match_info["name"])


def add_page_routes(app: web.Application) -> None:
    """Add `GET /chat`, `GET /today` and `GET /chat/static/{name}` to `app`."""
    app.router.add_get("/chat", _chat)
    app.router.add_get("/today", _today)
    app.router.add_get("/chat/static/{name}", _static)
