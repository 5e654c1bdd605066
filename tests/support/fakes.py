"""Fake platform servers on loopback: Rasa's REST channel, Telegram's Bot API, WhatsApp's Graph API."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any, AsyncIterator

import aiohttp
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
        self.delay = 0.0  # seconds before answering: a busy Rasa
        self.url = ""
        self.tracker_events: list[tuple[str, Any]] = []

    async def webhook(self, request: web.Request) -> web.Response:
        self.received.append(await request.json())
        await asyncio.sleep(self.delay)
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
    """The Bot API methods Maak calls, answering as Telegram documents, recording every call.

    Strict where Telegram is (empty or over-long text, callback_data over 64 bytes → 400), and
    able to refuse: `fail("sendMessage", 429, retry_after=1)` answers the next call of a method
    with that error (refused calls go to `refused`, not `calls`); `missing` lists methods that
    answer 404, as an older Bot API server would.
    """

    METHODS = {
        "getMe", "sendMessage", "answerCallbackQuery", "deleteMessage", "deleteMessages", "setWebhook",
        "deleteWebhook", "getWebhookInfo",
    }  # fmt: skip

    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.refused: list[tuple[str, dict[str, Any]]] = []
        self.url = ""
        self.missing: set[str] = set()
        # chat id → the message ids sendMessage returned there, in order.
        self.issued: dict[str, list[int]] = {}
        self._failures: dict[str, list[tuple[int, dict[str, Any]]]] = {}

    @property
    def base_url(self) -> str:
        """What python-telegram-bot takes as `base_url` (it appends the token)."""
        return f"{self.url}/bot"

    def sent(self, method: str = "sendMessage") -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == method]

    def deleted(self, chat_id: int | str) -> list[int]:
        """Every message id deleted in `chat_id` (deleteMessages or deleteMessage), in call order."""
        ids: list[int] = []
        for name, params in self.calls:
            if str(params.get("chat_id")) != str(chat_id):
                continue
            if name == "deleteMessages":
                ids += [int(i) for i in self.decoded(params["message_ids"])]
            elif name == "deleteMessage":
                ids.append(int(params["message_id"]))
        return ids

    @staticmethod
    def text_update(update_id: int, chat_id: int, text: str) -> dict[str, Any]:
        """An update as Telegram posts it to the webhook: a text in a private chat."""
        return {"update_id": 500_000 + update_id, "message": {
            "message_id": update_id, "date": 1763845200, "text": text,
            "chat": {"id": chat_id, "type": "private", "first_name": "S"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "S"}}}

    @staticmethod
    async def post(url: str, update: dict[str, Any], secret: str | None) -> int:
        """Post `update` to the gateway's webhook at `url`, as Telegram does; the HTTP status."""
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{url}/webhooks/telegram", json=update, headers=headers) as response:
                return response.status

    def fail(
        self, method: str, status: int, description: str = "", *, retry_after: int | None = None, times: int = 1
    ) -> None:
        """Answer the next `times` calls of `method` with this error."""
        answer: dict[str, Any] = {"ok": False, "error_code": status, "description": description or f"Error {status}"}
        if retry_after is not None:
            answer["parameters"] = {"retry_after": retry_after}
            answer["description"] = description or f"Too Many Requests: retry after {retry_after}"
        self._failures.setdefault(method, []).extend([(status, answer)] * times)

    @staticmethod
    def decoded(value: Any) -> Any:
        """A parameter as sent: python-telegram-bot form-encodes lists and objects as JSON."""
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    async def method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        name = request.match_info["method"]
        if request.content_type == "application/json":
            params = await request.json()
        else:
            params = dict(await request.post())
        if name not in self.METHODS or name in self.missing:
            self.refused.append((name, params))
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        if self._failures.get(name):
            status, answer = self._failures[name].pop(0)
            self.refused.append((name, params))
            return web.json_response(answer, status=status)
        problem = self._invalid(name, params)
        if problem:
            self.refused.append((name, params))
            answer = {"ok": False, "error_code": 400, "description": f"Bad Request: {problem}"}
            return web.json_response(answer, status=400)
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
            self.issued.setdefault(str(chat_id), []).append(result["message_id"])
        elif name == "getWebhookInfo":
            result = {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
        else:
            result = True
        return web.json_response({"ok": True, "result": result})

    def _invalid(self, name: str, params: dict[str, Any]) -> str | None:
        if name == "sendMessage":
            text = str(params.get("text", ""))
            if not text.strip():
                return "message text is empty"
            if len(text.encode("utf-16-le", "surrogatepass")) // 2 > 4096:
                return "message is too long"
            markup = self.decoded(params.get("reply_markup")) or {}
            for row in markup.get("inline_keyboard", []) if isinstance(markup, dict) else []:
                for button in row:
                    data = button.get("callback_data")
                    if data is not None and not 1 <= len(data.encode()) <= 64:
                        return "BUTTON_DATA_INVALID"
        if name == "deleteMessages":
            ids = self.decoded(params.get("message_ids"))
            if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
                return "message_ids must be 1-100 identifiers"
        return None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self.method)
        return app


class FakeGraph:
    """WhatsApp Cloud API's `messages` endpoint as Graph answers it, recording every request.

    By default every send succeeds; `fail_next` queues answers (429, 500, Graph errors) that are
    given, in order, before the next successes.
    """

    def __init__(self, access_token: str, phone_number_id: str) -> None:
        self.access_token = access_token
        self.phone_number_id = phone_number_id
        self.requests: list[dict[str, Any]] = []
        self.times: list[float] = []
        self.url = ""
        self._answers: list[tuple[int, dict[str, Any] | None, dict[str, str]]] = []

    def fail_next(self, status: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> None:
        self._answers.append((status, body, headers or {}))

    def rate_limit(self, retry_after: str | None = None) -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.fail_next(429, self.error(130429, "(#130429) Rate limit hit"), headers)

    def server_error(self, status: int = 500) -> None:
        self.fail_next(status, self.error(131000, "Something went wrong"))

    def outside_window(self) -> None:
        self.fail_next(
            400,
            self.error(
                131047,
                "(#131047) Re-engagement message",
                "Message failed to send because more than 24 hours have passed since the customer last replied.",
            ),
        )

    @staticmethod
    def error(code: int, message: str, details: str = "") -> dict[str, Any]:
        """A Graph error body as Cloud API documents it."""
        return {
            "error": {
                "message": message,
                "type": "OAuthException",
                "code": code,
                "error_data": {"messaging_product": "whatsapp", "details": details or message},
                "fbtrace_id": "AbCdEfGh123",
            }
        }

    async def messages(self, request: web.Request) -> web.Response:
        import time

        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            return web.json_response(self.error(190, "Invalid OAuth access token."), status=401)
        if request.match_info["phone_number_id"] != self.phone_number_id:
            return web.json_response(self.error(100, "Invalid parameter"), status=400)
        params = await request.json()
        self.requests.append(params)
        self.times.append(time.monotonic())
        if self._answers:
            status, body, headers = self._answers.pop(0)
            return web.json_response(body or {}, status=status, headers=headers)
        to = params.get("to", "")
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": f"wamid.fake{len(self.requests)}"}],
            }
        )

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v21.0/{phone_number_id}/messages", self.messages)
        return app

    @property
    def api_base(self) -> str:
        return f"{self.url}/v21.0"


class ServedInThread:
    """Serves an aiohttp app from a thread of its own, for fakes that a `maak run` stack calls
    while the test's own event loop is busy (or belongs to another test)."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.url = ""

    def __enter__(self) -> "ServedInThread":
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    async def _stop(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()
        # What the app left running (a socket server's pings) ends here, not with the loop.
        left = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)

    async def _start(self) -> str:
        self._runner = web.AppRunner(self._app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
