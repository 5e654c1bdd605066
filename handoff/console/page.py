"""The counsellor console page: `GET /console` and its static files under `/console/static/`.

The page speaks only the API of docs/console-api.md (added to the app elsewhere). Headers that
keep nothing on the device and load nothing from another host come from `web.static`.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from web.static import file_response

STATIC_DIR: Path = Path(__file__).resolve().parent / "static"

CONSOLE_PAGE = "console.html"


async def _console(request: web.Request) -> web.Response:
    return await file_response(request, STATIC_DIR, CONSOLE_PAGE)


async def _static(request: web.Request) -> web.Response:
    return await file_response(request, STATIC_DIR, request.match_info["name"])


def add_console_page(app: web.Application) -> None:
    """Add `GET /console` and `GET /console/static/{name}` to `app`."""
    app.router.add_get("/console", _console)
    app.router.add_get("/console/static/{name}", _static)
