"""The discreet web chat page (`/chat`) in headless Chromium, against a stub Socket.IO gateway
that speaks Rasa's socketio protocol."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any, Callable
from urllib.parse import urlsplit

import aiohttp
import pytest
import socketio
from aiohttp import web
from playwright.async_api import Page, expect

from channels.webchat.page import STATIC_DIR, add_page_routes
from tests.support.browser import chromium_page, storage_snapshot

pytestmark = pytest.mark.browser

DARIJA_REPLY = "مرحبا بيك، أنا هنا معاك.\nشنو بغيتي تعرفي؟"
QUICK_REPLIES = [
    {"content_type": "text", "title": "بغيت نخدم", "payload": "/seek_job"},
    {"content_type": "text", "title": "بغيت نهضر مع شي حد", "payload": "/request_human"},
]
FORBIDDEN_WORDS = ("violence", "violent", "abuse", "abus", "victim", "عنف", "help", "sos")

class StubGateway:
    """aiohttp app with the page routes and a python-socketio server answering like Rasa."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.replies: list[dict] = []  # next bot_uttered payloads; the canned one when empty
        self.missed: list[dict] = []  # sent after confirming a page that says what it has `seen`
        self.port: int = 0
        self._runner: web.AppRunner | None = None
        self._sio: socketio.AsyncServer | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def messages(self) -> list[str]:
        return [data.get("message") for event, data in self.events if event == "user_uttered"]

    def _build_app(self) -> web.Application:
        app = web.Application()
        add_page_routes(app)

        async def start_page(request: web.Request) -> web.Response:
            return web.Response(text="<!doctype html><title>Start</title><p>start</p>",
                                content_type="text/html")

        app.router.add_get("/start", start_page)

        sio = socketio.AsyncServer(async_mode="aiohttp", logger=False, engineio_logger=False)
        sio.attach(app, socketio_path="socket.io")

        @sio.event
        async def connect(sid: str, environ: dict, auth: Any = None) -> None:
            self.events.append(("connect", sid))

        @sio.event
        async def disconnect(sid: str, *args: Any) -> None:
            self.events.append(("disconnect", sid))

        @sio.on("session_request")
        async def session_request(sid: str, data: dict) -> None:
            self.events.append(("session_request", data))
            await sio.emit("session_confirm", data["session_id"], to=sid)
            if "seen" in data:
                for payload in self.missed:
                    await sio.emit("bot_uttered", payload, to=sid)

        @sio.on("user_uttered")
        async def user_uttered(sid: str, data: dict) -> None:
            self.events.append(("user_uttered", data))
            reply = self.replies.pop(0) if self.replies else {
                "text": DARIJA_REPLY,
                "quick_replies": QUICK_REPLIES,
            }
            await sio.emit("bot_uttered", reply, to=sid)

        self._sio = sio
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self._build_app(), shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        if not self.port:
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._sio is not None:
            await self._sio.shutdown()
            self._sio = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        # Engine.IO leaves a sleeping ping task per dropped client; end them with the server.
        pings = [task for task in asyncio.all_tasks()
                 if "_send_ping" in getattr(task.get_coro(), "__qualname__", "")]
        for task in pings:
            task.cancel()
        await asyncio.gather(*pings, return_exceptions=True)


async def wait_until(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


@pytest.fixture
async def gateway():
    stub = StubGateway()
    await stub.start()
    try:
        yield stub
    finally:
        await stub.stop()


async def open_chat(page: Page, gateway: StubGateway) -> str:
    """Load /chat and wait until the session is confirmed; returns the session id."""
    before = len([e for e in gateway.events if e[0] == "session_request"])
    await page.goto(gateway.base + "/chat")
    await wait_until(
        lambda: len([e for e in gateway.events if e[0] == "session_request"]) > before
    )
    return [d for e, d in gateway.events if e == "session_request"][-1]["session_id"]


async def send(page: Page, text: str) -> None:
    await page.locator("#msg").fill(text)
    await page.locator("#send").click()


# ---------------------------------------------------------------- HTTP side (no browser)


async def test_routes_send_private_headers_and_no_traversal(gateway: StubGateway) -> None:
    async with aiohttp.ClientSession() as http:
        for path, kind in [
            ("/chat", "text/html"),
            ("/today", "text/html"),
            ("/chat/static/chat.js", "text/javascript"),
            ("/chat/static/chat.css", "text/css"),
            ("/chat/static/socket.io.min.js", "text/javascript"),
        ]:
            async with http.get(gateway.base + path) as response:
                assert response.status == 200, path
                assert response.content_type == kind, path
                assert response.headers["Cache-Control"] == "no-store"
                assert response.headers["Referrer-Policy"] == "no-referrer"
                assert response.headers["X-Content-Type-Options"] == "nosniff"
                csp = response.headers["Content-Security-Policy"]
                assert "default-src 'none'" in csp
                assert "script-src 'self'" in csp
                assert "style-src 'self'" in csp
                assert "connect-src 'self'" in csp
                assert "unsafe" not in csp
                assert "Set-Cookie" not in response.headers

        for bad in [
            "/chat/static/..%2Fpage.py",
            "/chat/static/%2E%2E%2Fpage.py",
            "/chat/static/.hidden",
            "/chat/static/page.py",
            "/chat/static/missing.js",
            "/chat/static/..",
        ]:
            async with http.get(gateway.base + bad) as response:
                assert response.status == 404, (bad, response.url)
        async with http.get(gateway.base + "/chat/static/../page.py") as response:
            assert response.status == 404


def test_static_files_load_nothing_from_another_host() -> None:
    for name in ["chat.html", "today.html", "chat.css", "today.css", "chat.js", "today.js",
                 "texts.js"]:
        text = (STATIC_DIR / name).read_text(encoding="utf-8")
        # Only the SVG namespace of the inline favicons may name a host.
        text = text.replace("http://www.w3.org/2000/svg", "")
        assert not re.search(r"\b(?:https?|wss?):", text, re.I), name
        assert not re.search(r"[\"'(=]\s*//[a-z0-9]", text, re.I), name
        assert "@import" not in text and "@font-face" not in text, name
        for word in ("localStorage", "sessionStorage", "indexedDB", "document.cookie",
                     "serviceWorker", "innerHTML", "insertAdjacentHTML", "eval("):
            assert word not in text, (name, word)
    assert (STATIC_DIR / "socket.io.min.js").read_text().startswith("/*!\n * Socket.IO v4.")


# ---------------------------------------------------------------- in the browser


async def test_page_loads_neutral_and_only_from_this_host(gateway: StubGateway) -> None:
    async with chromium_page() as page:
        requested: list[str] = []
        problems: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.on("websocket", lambda ws: requested.append(ws.url))
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        await open_chat(page, gateway)
        await expect(page.locator("#status")).to_be_hidden()
        await send(page, "salam")
        await expect(page.locator(".row-bot .bubble")).to_have_count(1)
        assert problems == []  # no script error, no Content-Security-Policy violation

        title = await page.title()
        assert title == "Notes"
        for word in FORBIDDEN_WORDS:
            assert word not in title.lower()
            assert word not in page.url.lower()
        icon = await page.locator("link[rel=icon]").get_attribute("href")
        assert icon is not None and icon.startswith("data:")

        assert requested
        for url in requested:
            parts = urlsplit(url)
            if parts.scheme == "data":
                continue
            assert parts.scheme in ("http", "ws"), url
            assert parts.netloc == f"127.0.0.1:{gateway.port}", url

        await expect(page.locator("#exit")).to_be_visible()
        await expect(page.locator("#exit-note")).to_contain_text("history")
        assert await page.locator("#msg").get_attribute("maxlength") == "2000"
        snapshot = await storage_snapshot(page)
        assert_nothing_stored(snapshot)


async def test_darija_message_gets_reply_and_quick_reply_sends_payload(
    gateway: StubGateway,
) -> None:
    async with chromium_page() as page:
        session_id = await open_chat(page, gateway)
        await send(page, "salam, bghit n3ref wach kayn chi khedma f tanja")

        log = page.locator("#log")
        await expect(log.locator(".row-user .bubble")).to_have_text(
            ["salam, bghit n3ref wach kayn chi khedma f tanja"]
        )
        await expect(log.locator(".row-bot .bubble")).to_have_text([DARIJA_REPLY])
        assert await log.locator(".bubble").first.get_attribute("dir") == "auto"
        sent = [d for e, d in gateway.events if e == "user_uttered"]
        assert sent[0]["message"] == "salam, bghit n3ref wach kayn chi khedma f tanja"
        assert sent[0]["session_id"] == session_id
        assert await page.locator("#msg").input_value() == ""

        buttons = log.locator(".quick-reply")
        await expect(buttons).to_have_text([r["title"] for r in QUICK_REPLIES])
        await buttons.nth(0).click()

        await wait_until(lambda: len(gateway.messages()) == 2)
        assert gateway.messages()[1] == "/seek_job"
        await expect(log.locator(".row-user .bubble")).to_have_text(
            ["salam, bghit n3ref wach kayn chi khedma f tanja", QUICK_REPLIES[0]["title"]]
        )
        # The payload is never shown; the used buttons are gone, the new reply has its own.
        await expect(log.locator(".row-bot .bubble")).to_have_count(2)
        assert "/seek_job" not in await log.inner_text()
        await expect(log.locator(".quick")).to_have_count(1)


async def test_language_picker_and_rtl(gateway: StubGateway) -> None:
    async with chromium_page(locale="en-US") as page:
        await open_chat(page, gateway)
        html = page.locator("html")
        await expect(html).to_have_attribute("dir", "ltr")
        await expect(html).to_have_attribute("lang", "en")
        await expect(page.locator("#exit")).to_have_text("Quick exit")

        await page.locator("#lang").select_option("ar")
        await expect(html).to_have_attribute("dir", "rtl")
        await expect(html).to_have_attribute("lang", "ar")
        await expect(page.locator("#exit")).to_have_text("خروج سريع")
        assert re.search(r"[\u0600-\u06FF]", await page.locator("#msg").get_attribute("placeholder"))
        assert await page.title() == "Notes"

        await send(page, "مرحبا")
        await expect(page.locator(".row-bot .bubble")).to_have_text([DARIJA_REPLY])
        # Right to left: her bubbles sit on the left, the replies on the right.
        user_box = await page.locator(".row-user .bubble").bounding_box()
        bot_box = await page.locator(".row-bot .bubble").bounding_box()
        assert user_box["x"] < bot_box["x"]
        assert gateway.events[-1][1]["metadata"]["language"] == "ar"

        await page.locator("#lang").select_option("ary")
        await expect(html).to_have_attribute("dir", "rtl")
        await page.locator("#lang").select_option("ary-Latn")
        await expect(html).to_have_attribute("dir", "ltr")
        await expect(page.locator("#exit")).to_have_text("Khrouj dghya")
        await page.locator("#lang").select_option("fr")
        await expect(page.locator("#send")).to_have_text("Envoyer")

    async with chromium_page(locale="ar-MA") as page:
        await open_chat(page, gateway)
        await expect(page.locator("html")).to_have_attribute("dir", "rtl")
        await expect(page.locator("#lang")).to_have_value("ar")

    async with chromium_page(locale="fr-FR") as page:
        await open_chat(page, gateway)
        await expect(page.locator("html")).to_have_attribute("dir", "ltr")
        await expect(page.locator("#lang")).to_have_value("fr")
        await expect(page.locator("#exit")).to_have_text("Sortie rapide")


async def test_long_bot_text_with_newlines_renders_as_text(gateway: StubGateway) -> None:
    long_text = (
        "Had les numéros kaynin:\n"
        "• 8350 — khat l'mosa3ada\n"
        "• 19 — police\n"
        "- 15 — l'isaaf\n\n"
        + ("Nti machi bo7dek. " * 60).strip()
    )
    gateway.replies.append({"text": long_text})
    async with chromium_page(viewport={"width": 360, "height": 740}) as page:
        await open_chat(page, gateway)
        await send(page, "chno homa les numéros?")
        bubble = page.locator(".row-bot .bubble")
        await expect(bubble).to_have_count(1)
        assert await bubble.text_content() == long_text
        assert await bubble.evaluate("el => el.children.length") == 0
        inner = await bubble.inner_text()
        assert "khat l'mosa3ada\n• 19" in inner
        # The long line wraps inside the phone screen.
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360


async def test_html_looking_bot_text_is_not_interpreted(gateway: StubGateway) -> None:
    hostile = (
        '<img src="/chat/static/x.png" onerror="window.__ran=1">'
        "<b>bold</b><script>window.__ran=2</script><a href=\"/x\">link</a>"
    )
    gateway.replies.append({"text": hostile, "quick_replies": [
        {"content_type": "text", "title": "<i>it</i>", "payload": "/affirm"},
    ]})
    async with chromium_page() as page:
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        await open_chat(page, gateway)
        await send(page, "<b>mine</b>")
        bubble = page.locator(".row-bot .bubble")
        await expect(bubble).to_have_text(hostile)
        await expect(page.locator(".row-user .bubble")).to_have_text("<b>mine</b>")
        await expect(page.locator(".quick-reply")).to_have_text("<i>it</i>")
        log = page.locator("#log")
        assert await log.locator("img, b, i, script, a").count() == 0
        assert await page.evaluate("window.__ran") is None
        assert not [url for url in requested if "x.png" in url]


async def test_escape_replaces_page_and_back_does_not_return(gateway: StubGateway) -> None:
    async with chromium_page() as page:
        await page.goto(gateway.base + "/start")
        await open_chat(page, gateway)
        await send(page, "salam")
        await expect(page.locator(".row-bot .bubble")).to_have_count(1)
        await page.locator("#msg").fill("ma bghitch ychouf hadchi")
        entries = await page.evaluate("history.length")

        await page.keyboard.press("Escape")
        await page.wait_for_url(gateway.base + "/today")
        await wait_until(lambda: any(e == "disconnect" for e, _ in gateway.events))
        await expect(page.locator("#date")).not_to_be_empty()
        assert "chat" not in (await page.content()).lower().replace("/chat/static/", "")
        assert await page.evaluate("history.length") == entries  # replaced, not added

        await page.go_back()
        await page.wait_for_url(gateway.base + "/start")
        assert "/chat" not in page.url
        await page.go_forward()
        await page.wait_for_url(gateway.base + "/today")
        assert_nothing_stored(await storage_snapshot(page))


async def test_exit_button_replaces_page_and_leaves_nothing_stored(gateway: StubGateway) -> None:
    async with chromium_page(viewport={"width": 360, "height": 640}) as page:
        await page.goto(gateway.base + "/start")
        await open_chat(page, gateway)
        await send(page, "salam")
        await expect(page.locator(".row-bot .bubble")).to_have_count(1)
        assert_nothing_stored(await storage_snapshot(page))

        await page.locator("#exit").click()
        await page.wait_for_url(gateway.base + "/today")
        await wait_until(lambda: any(e == "disconnect" for e, _ in gateway.events))
        assert_nothing_stored(await storage_snapshot(page))
        title = (await page.title()).lower()
        for word in FORBIDDEN_WORDS:
            assert word not in title

        await page.evaluate("setTimeout(() => history.back(), 0)")
        await page.wait_for_url(gateway.base + "/start")


async def test_server_quick_exit_message_runs_quick_exit(gateway: StubGateway) -> None:
    gateway.replies.append({"text": "", "custom": {"maak": "quick_exit"}})
    async with chromium_page() as page:
        await page.goto(gateway.base + "/start")
        await open_chat(page, gateway)
        await send(page, "stop")
        await page.wait_for_url(gateway.base + "/today")
        await wait_until(lambda: any(e == "disconnect" for e, _ in gateway.events))
        await page.go_back()
        await page.wait_for_url(gateway.base + "/start")


async def test_messages_typed_while_server_is_down_are_sent_on_reconnect(
    gateway: StubGateway,
) -> None:
    async with chromium_page() as page:
        session_id = await open_chat(page, gateway)
        await send(page, "salam")
        await expect(page.locator(".row-bot .bubble")).to_have_count(1)

        await gateway.stop()
        status = page.locator("#status")
        await expect(status).to_be_visible(timeout=10_000)
        await expect(status).to_contain_text("Connection lost")

        await send(page, "wach kayn chi 7ad?")
        await page.locator("#msg").fill("ana f casa")
        await page.locator("#msg").press("Enter")
        await expect(page.locator(".row-user .bubble")).to_have_text(
            ["salam", "wach kayn chi 7ad?", "ana f casa"]
        )
        await expect(page.locator(".row-user.is-pending")).to_have_count(2)

        gateway.events.clear()
        await gateway.start()
        await wait_until(lambda: len(gateway.messages()) == 2, timeout=20)
        assert gateway.messages() == ["wach kayn chi 7ad?", "ana f casa"]
        kinds = [e for e, _ in gateway.events]
        assert kinds.index("session_request") < kinds.index("user_uttered")
        assert all(d["session_id"] == session_id
                   for e, d in gateway.events if e in ("session_request", "user_uttered"))
        await expect(status).to_be_hidden()
        await expect(page.locator(".row-user.is-pending")).to_have_count(0)
        await expect(page.locator(".row-bot .bubble")).to_have_count(3)


async def test_on_return_the_page_says_what_it_has_seen_and_shows_each_message_once(
    gateway: StubGateway,
) -> None:
    gateway.replies.append({"text": "Je suis là.", "seq": 7})
    gateway.missed = [{"text": "Je suis là.", "seq": 7}, {"text": "Vous êtes en sécurité ?", "seq": 9}]
    async with chromium_page() as page:
        session_id = await open_chat(page, gateway)
        first = [d for e, d in gateway.events if e == "session_request"]
        assert first == [{"session_id": session_id}]  # a new page asks for nothing old
        await send(page, "allo")
        bot = page.locator(".row-bot .bubble")
        await expect(bot).to_have_text(["Je suis là."])

        await gateway.stop()
        await expect(page.locator("#status")).to_be_visible(timeout=10_000)
        gateway.events.clear()
        await gateway.start()
        await expect(bot).to_have_text(["Je suis là.", "Vous êtes en sécurité ?"], timeout=20_000)
        requests = [d for e, d in gateway.events if e == "session_request"]
        assert requests == [{"session_id": session_id, "seen": 7}]
        await asyncio.sleep(0.5)
        await expect(bot).to_have_count(2)


async def test_phone_layout_labels_and_counter(gateway: StubGateway) -> None:
    async with chromium_page(viewport={"width": 360, "height": 640}, has_touch=True,
                             is_mobile=True) as page:
        await open_chat(page, gateway)
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360
        for selector in ("#exit", "#send", "#msg", "#lang"):
            box = await page.locator(selector).bounding_box()
            assert box is not None and box["height"] >= 44, selector
            assert box["x"] >= 0 and box["x"] + box["width"] <= 360, selector
        await expect(page.get_by_label("Your message")).to_be_visible()
        await expect(page.get_by_role("button", name="Quick exit")).to_be_visible()

        counter = page.locator("#counter")
        await page.locator("#msg").fill("a" * 1500)
        await expect(counter).to_be_hidden()
        await page.locator("#msg").fill("a" * 1850)
        await expect(counter).to_be_visible()
        await expect(counter).to_have_text("150 characters left")
        await page.evaluate("document.getElementById('msg').value = 'a'.repeat(1998)")
        await page.locator("#msg").press_sequentially("cccc")
        assert len(await page.locator("#msg").input_value()) == 2000
        await expect(counter).to_have_text("Limit reached (2000 characters)")

        # Still visible with a long conversation: the exit button never scrolls away.
        for i in range(12):
            gateway.replies.append({"text": f"jawab {i}\n" * 3})
            await send(page, f"message {i}")
        await expect(page.locator(".row-bot .bubble")).to_have_count(12)
        await expect(page.locator("#exit")).to_be_in_viewport()
        await expect(page.locator("#msg")).to_be_in_viewport()


async def test_reload_starts_a_new_conversation(gateway: StubGateway) -> None:
    async with chromium_page() as page:
        first = await open_chat(page, gateway)
        await send(page, "salam")
        await expect(page.locator(".row-bot .bubble")).to_have_count(1)
        second = await open_chat(page, gateway)
        assert second != first and len(second) >= 32
        await expect(page.locator("#log .row")).to_have_count(0)
        assert_nothing_stored(await storage_snapshot(page))


def assert_nothing_stored(snapshot: dict) -> None:
    assert snapshot["localStorage"] == {}
    assert snapshot["sessionStorage"] == {}
    assert snapshot["cookies"] == []
    assert snapshot["indexedDB"] == []
    assert snapshot["serviceWorkers"] == 0
    assert snapshot["cacheStorage"] == []
    assert snapshot["documentCookie"] == ""
