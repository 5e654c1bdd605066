"""Fake platform servers on loopback: Rasa's REST channel and Telegram's Bot API."""

from __future__ import annotations

import json
from typing import Any, AsyncIterator

from aiohttp import web


async def serve(app: web.Application) -> AsyncIterator[str]:
    """Run `app` on a free loopback port; yields its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    finally:
        await runner.cleanup()


class FakeRasa:
    """A stand-in for Rasa's REST channel: replies, fails, or is absent."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.replies: list[dict[str, Any]] = [{"text": "bot reply"}]
        self.status = 200
        self.url = ""
        self.tracker_events: list[tuple[str, Any]] = []

    async def webhook(self, request: web.Request) -> web.Response:
        self.received.append(await request.json())
        if self.status != 200:
            return web.Response(status=self.status)
        return web.json_response(self.replies)

    async def append_events(self, request: web.Request) -> web.Response:
        self.tracker_events.append((request.match_info["conversation_id"], await request.json()))
        return web.json_response({"sender_id": request.match_info["conversation_id"]})

    async def status_page(self, request: web.Request) -> web.Response:
        return web.json_response({"model_file": "fake"})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", self.webhook)
        app.router.add_get("/status", self.status_page)
        app.router.add_post("/conversations/{conversation_id}/tracker/events", self.append_events)
        return app


class FakeTelegram:
    """The Bot API methods Maak calls, answering as Telegram documents, recording every call."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.url = ""

    @property
    def base_url(self) -> str:
        """What python-telegram-bot takes as `base_url` (it appends the token)."""
        return f"{self.url}/bot"

    def sent(self, method: str = "sendMessage") -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == method]

    async def method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        name = request.match_info["method"]
        if request.content_type == "application/json":
            params = await request.json()
        else:
            params = dict(await request.post())
        self.calls.append((name, params))
        if name == "getMe":
            result: Any = {"id": 1, "is_bot": True, "first_name": "Maak", "username": "maak_bot"}
        elif name == "sendMessage":
            chat_id = params.get("chat_id")
            result = {
                "message_id": len(self.calls),
                "date": 1_700_000_000,
                "chat": {"id": int(chat_id) if str(chat_id).lstrip("-").isdigit() else 0, "type": "private"},
                "text": params.get("text", ""),
            }
        else:
            result = True
        return web.json_response({"ok": True, "result": result})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self.method)
        return app
