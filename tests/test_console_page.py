"""The counsellor console (`/console`) in headless Chromium, against a stub server that speaks the
API of docs/console-api.md with in-memory cases and pushes events over the WebSocket."""

from __future__ import annotations

import asyncio
import re
import secrets
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, AsyncIterator, Callable
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import WSMsgType, web
from playwright.async_api import Browser, Page, async_playwright, expect

from handoff.console.page import STATIC_DIR, add_console_page
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, storage_snapshot

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

USERS = {"amina": ("right-password", "counsellor"), "sara": ("sara-password", "counsellor")}
CONFIG = {
    "outcomes": [{"code": "referred", "label": {"fr": "Orientée vers un service", "ar": "تم توجيهها", "en": "Referred"}},
                 {"code": "listened", "label": {"fr": "Écoute seulement", "ar": "استماع فقط", "en": "Listened"}}],
    "services": [{"id": "rabat-legal", "label": {"fr": "Aide juridique Rabat", "ar": "مساعدة قانونية"}, "region": "RSK"},
                 {"id": "casa-shelter", "label": {"fr": "Centre d'écoute Casa", "ar": "مركز الاستماع"},
                  "region": "CST"}],
    "colleagues": [{"username": "sara", "role": "counsellor", "online": True},
                   {"username": "houda", "role": "supervisor", "online": False}],
    "sla_seconds": 600,
    # The evening is always open here and the morning never, whatever the hour of the test.
    "callback": {"timezone": "Africa/Casablanca",
                 "windows": {"evening": {"from": "00:00", "to": "24:00"}, "morning": {"from": "00:00", "to": "00:00"}}},
}


def iso(seconds_ago: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(seconds=seconds_ago)).isoformat(timespec="seconds")


def make_case(case_id: int, priority: str = "normal", ago: float = 60, **extra: Any) -> dict:
    case = {"id": case_id, "status": "queued", "priority": priority, "lang": "ary", "channel": "webchat",
            "region": "CST", "category": "danger", "danger": priority == "urgent",
            "safe_to_chat": None, "created_at": iso(ago), "claimed_by": None, "escalated": False,
            "callback_window": None, "summary": f"summary {case_id}"}
    case.update(extra)
    return case


class StubConsole:
    """The console API in memory: sessions, cases, messages and a WebSocket hub."""

    def __init__(self, *cases: dict) -> None:
        self.cases = {case["id"]: case for case in cases}
        self.messages: dict[int, list[dict]] = {case["id"]: [] for case in cases}
        self.sessions: dict[str, dict] = {}
        self.calls: list[tuple[str, str, str | None, Any]] = []  # method, path, csrf header, body
        self.sockets: set[web.WebSocketResponse] = set()
        self.refuse_ws = False
        self.taken_by_sara: set[int] = set()
        self.delivery_error: str | None = None
        self.next_id = 100
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def posts(self, path: str) -> list[tuple[str | None, Any]]:
        return [(csrf, body) for method, p, csrf, body in self.calls if method == "POST" and p == path]

    def gets(self, path: str) -> int:
        return sum(1 for method, p, _, _ in self.calls if method == "GET" and p == path)

    def add_message(self, case_id: int, author: str, text: str, ago: float = 0, **extra: Any) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "author": author, "text": text, "created_at": iso(ago),
                   "counsellor": None, "delivery_error": None, **extra}
        self.messages.setdefault(case_id, []).append(message)
        return message

    async def push(self, event: dict) -> None:
        for ws in list(self.sockets):
            await ws.send_json(event)

    async def drop(self) -> None:
        for ws in list(self.sockets):
            await ws.close()

    def app(self) -> web.Application:
        def error(status: int, reason: str) -> web.Response:
            return web.json_response({"error": reason}, status=status)

        def readable(request: web.Request, case: dict) -> bool:  # need to know, as the real API
            return case["status"] == "queued" or case["claimed_by"] == request["account"]["username"]

        @web.middleware
        async def guard(request: web.Request, handler: Callable) -> web.StreamResponse:
            if not request.path.startswith("/api/"):
                return await handler(request)
            request["body"] = await request.json() if request.can_read_body else {}
            csrf = request.headers.get("X-CSRF-Token")
            self.calls.append((request.method, request.path_qs, csrf, request["body"] or None))
            if request.path != "/api/auth/login":
                request["account"] = self.sessions.get(request.cookies.get("maak_session", ""))
                if request["account"] is None:
                    return error(401, "no session")
                if request.method == "POST" and csrf != request["account"]["csrf_token"]:
                    return error(403, "csrf")
            if "id" in request.match_info and int(request.match_info["id"]) not in self.cases:
                return error(404, "no such case")
            return await handler(request)

        routes = web.RouteTableDef()

        @routes.post("/api/auth/login")
        async def login(request: web.Request) -> web.Response:
            name, password = request["body"].get("username"), request["body"].get("password")
            if USERS.get(name, ("",))[0] != password:
                return error(401, "invalid credentials")
            account = {"username": name, "role": USERS[name][1], "csrf_token": secrets.token_hex(16)}
            token = secrets.token_hex(16)
            self.sessions[token] = account
            response = web.json_response(account)
            response.set_cookie("maak_session", token, httponly=True, samesite="Strict", path="/")
            return response

        @routes.get("/api/auth/me")
        async def me(request: web.Request) -> web.Response:
            return web.json_response(request["account"])

        @routes.post("/api/auth/logout")
        async def logout(request: web.Request) -> web.Response:
            self.sessions.pop(request.cookies["maak_session"], None)
            return web.Response(status=204)

        @routes.get("/api/cases")
        async def cases(request: web.Request) -> web.Response:  # deliberately unsorted
            return web.json_response({"cases": [c if readable(request, c) else {**c, "summary": ""}
                                                for c in self.cases.values() if c["status"] != "closed"]})

        @routes.get("/api/cases/{id}")
        async def detail(request: web.Request) -> web.Response:
            case = self.cases[int(request.match_info["id"])]
            if not readable(request, case):
                return error(403, "held by another counsellor")
            return web.json_response({"case": case, "messages": self.messages.get(case["id"], [])})

        @routes.post("/api/cases/{id}/{action}")
        async def act(request: web.Request) -> web.Response:
            case, body = self.cases[int(request.match_info["id"])], request["body"]
            action, me = request.match_info["action"], request["account"]["username"]
            if action == "claim":
                if case["id"] in self.taken_by_sara:
                    case.update(status="claimed", claimed_by="sara")
                if case["status"] != "queued":
                    return error(409, "already taken")
                case.update(status="claimed", claimed_by=me)
            elif case["claimed_by"] != me:
                return error(403, "not yours")
            elif action == "messages" and case.get("callback_window") == "none" and body.get("confirm") is not True:
                return web.json_response({"error": "confirm", "reason": "callback_none", "window": "none"}, status=409)
            elif action == "messages":
                sent = self.add_message(case["id"], "counsellor", body["text"], counsellor=me,
                                        delivery_error=self.delivery_error)
                await self.push({"type": "message", "case": case, "message": sent})
                return web.json_response({"message": sent}, status=201)
            elif action == "transfer":
                case.update(status="claimed" if body["to"] else "queued", claimed_by=body["to"])
            elif action == "close" and body.get("outcome") in {o["code"] for o in CONFIG["outcomes"]}:
                case["status"] = "closed"
            else:
                return error(400, "bad request")
            kind = "case_closed" if case["status"] == "closed" else "case_updated"
            await self.push({"type": kind, "case": case})
            return web.json_response({"case": case})

        @routes.get("/api/console/config")
        async def config(request: web.Request) -> web.Response:
            return web.json_response(CONFIG)

        @routes.get("/api/console/ws")
        async def socket(request: web.Request) -> web.StreamResponse:
            if self.refuse_ws:
                return error(503, "unavailable")
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            await ws.send_json({"type": "hello", **request["account"]})
            self.sockets.add(ws)
            try:
                async for msg in ws:
                    if msg.type == WSMsgType.TEXT and msg.json().get("type") == "ping":
                        await ws.send_json({"type": "pong"})
            finally:
                self.sockets.discard(ws)
            return ws

        app = web.Application(middlewares=[guard])
        add_console_page(app)
        app.add_routes(routes)
        return app


@asynccontextmanager
async def serving(*cases: dict) -> AsyncIterator[StubConsole]:
    stub = StubConsole(*cases)
    runner = web.AppRunner(stub.app(), shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    stub.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield stub
    finally:
        await stub.drop()
        await runner.cleanup()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    """One headless Debian Chromium for the whole module; each test gets a fresh context."""
    async with async_playwright() as playwright:
        shared = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield shared
        await shared.close()


@asynccontextmanager
async def open_page(browser: Browser, **options: Any) -> AsyncIterator[Page]:
    context = await browser.new_context(**options)
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda msg: problems.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text else None)
    try:
        yield page
        assert problems == []  # no script error, no Content-Security-Policy violation
    finally:
        await context.close()


async def log_in(page: Page, stub: StubConsole, user: str = "amina") -> None:
    if "/console" not in page.url:
        await page.goto(stub.base + "/console")
    await page.locator("#username").fill(user)
    await page.locator("#password").fill(USERS[user][0])
    await page.locator("#login-btn").click()
    await expect(page.locator("#app-view")).to_be_visible()
    await expect(page.locator("#conn")).to_have_attribute("data-state", "live")


def row(page: Page, case_id: int):
    return page.locator(f'#queue .row-button[data-id="{case_id}"]')


async def queue_ids(page: Page) -> list[int]:
    return [int(x) for x in await page.locator("#queue .row-button").evaluate_all(
        "rows => rows.map(r => r.dataset.id)")]


async def open_case(page: Page, case_id: int, claim: bool = False) -> None:
    await row(page, case_id).click()
    await expect(page.locator("#case-title")).to_have_text(f"Cas n° {case_id}")
    if claim:
        await page.locator("#claim").click()
        await expect(page.locator("#reply")).to_be_enabled()


# ---------------------------------------------------------------- HTTP side (no browser)


async def test_routes_headers_and_static_files_are_self_contained() -> None:
    async with serving() as stub, aiohttp.ClientSession() as http:
        for path, kind in [("/console", "text/html"), ("/console/static/console.js", "text/javascript"),
                           ("/console/static/console-texts.js", "text/javascript"),
                           ("/console/static/console.css", "text/css")]:
            async with http.get(stub.base + path) as response:
                assert response.status == 200 and response.content_type == kind, path
                assert response.headers["Cache-Control"] == "no-store"
                assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        for bad in ["/console/static/..%2Fpage.py", "/console/static/page.py",
                    "/console/static/.hidden", "/console/static/missing.js"]:
            async with http.get(stub.base + bad) as response:
                assert response.status == 404, bad
    for path in STATIC_DIR.iterdir():
        text = path.read_text(encoding="utf-8").replace("http://www.w3.org/2000/svg", "")
        assert not re.search(r"\b(?:https?|wss?)://", text), path.name
        for word in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                     "localStorage", "sessionStorage", "indexedDB", "document.cookie", "serviceWorker"):
            assert word not in text, (path.name, word)
        if path.suffix == ".html":  # no inline script, style or handler: the CSP would block them
            assert not re.search(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=", text), path.name


# ---------------------------------------------------------------- in the browser


async def test_login_expiry_logout_and_nothing_kept_but_the_session_cookie(browser: Browser) -> None:
    async with serving(make_case(1), make_case(2)) as stub, open_page(browser) as page:
        await page.goto(stub.base + "/console")
        assert await page.title() == "Maak — console"
        await expect(page.locator("html")).to_have_attribute("lang", "fr")
        await expect(page.locator("html")).to_have_attribute("dir", "ltr")
        await page.locator("#username").fill("amina")
        await page.locator("#password").fill("wrong")
        await page.locator("#password").press("Enter")
        await expect(page.locator("#login-error")).to_have_text("Identifiant ou mot de passe incorrect.")
        await expect(page.locator("#app-view")).to_be_hidden()
        assert await page.locator("#password").input_value() == ""

        await log_in(page, stub)
        await expect(page.locator("#me")).to_have_text("Connecté·e : amina")
        await expect(page.locator("#conn")).to_have_text("En direct")
        await expect(page.locator("#queue .row")).to_have_count(2)
        snapshot = await storage_snapshot(page)
        assert snapshot["localStorage"] == {} and snapshot["sessionStorage"] == {}
        assert snapshot["indexedDB"] == [] and snapshot["cacheStorage"] == []
        assert snapshot["serviceWorkers"] == 0 and snapshot["documentCookie"] == ""
        assert [(c["name"], c["httpOnly"]) for c in snapshot["cookies"]] == [("maak_session", True)]

        await page.reload()  # the cookie alone brings the console back
        await expect(page.locator("#queue .row")).to_have_count(2)

        stub.sessions.clear()  # expired: any 401 goes back to the login form
        await row(page, 2).click()
        await expect(page.locator("#login-error")).to_have_text("Votre session a expiré. Reconnectez-vous.")
        await expect(page.locator("#app-view")).to_be_hidden()
        await log_in(page, stub)
        await expect(page.locator("#queue .row")).to_have_count(2)
        await page.locator("#logout").click()
        await expect(page.locator("#login-view")).to_be_visible()
        await expect(page.locator("#queue .row")).to_have_count(0)
        assert await page.locator("#username").input_value() == ""
        assert stub.sessions == {}
        assert stub.posts("/api/auth/logout")[0][0] is not None  # with its X-CSRF-Token


async def test_queue_order_badges_card_and_ticking_wait(browser: Browser) -> None:
    cases = [make_case(1, "normal", 1500), make_case(2, "high", 200), make_case(3, "urgent", 30),
             make_case(4, "urgent", 400, channel="whatsapp", safe_to_chat="no", callback_window="evening",
                       summary="<b>3afak</b> rajli kaydrabni\nana f casa"),
             make_case(5, "normal", 3000, status="claimed", claimed_by="sara"),
             make_case(6, "high", 100, escalated=True)]
    async with serving(*cases) as stub, open_page(browser, timezone_id="Asia/Tokyo") as page:
        await page.clock.install()
        await log_in(page, stub)
        await expect(page.locator("#queue .row")).to_have_count(6)
        assert await queue_ids(page) == [4, 3, 2, 6, 1, 5]  # urgent, high, normal, oldest first; claimed last
        first = page.locator("#queue .row").first
        await expect(first).to_have_class(re.compile(r"\bprio-urgent\b"))
        # Text, not colour alone; and her callback time (this stub's evening is always open).
        await expect(first.locator(".badge")).to_have_text(["Urgent", "C'est son moment de rappel"])
        await expect(row(page, 2).locator(".badge")).to_have_text(["Élevée"])
        await expect(row(page, 1).locator(".badge")).to_have_text(["Normale", "Escaladé"])  # past the SLA
        await expect(row(page, 6).locator(".badge")).to_have_text(["Élevée", "Escaladé"])  # server's flag
        await expect(row(page, 5)).to_contain_text("Pris par sara")
        await expect(row(page, 4).locator(".waiting")).to_have_text("6 min")

        await open_case(page, 4)
        card = page.locator("#card")
        expected = {"lang": "Darija", "channel": "WhatsApp", "region": "Casablanca-Settat", "danger": "Oui",
                    "category": "Danger", "safe": "Non", "callback": "Soir (00:00–24:00) · C'est son moment de rappel",
                    "waiting": "6 min",
                    "summary": "<b>3afak</b> rajli kaydrabni\nana f casa"}
        for name, value in expected.items():
            await expect(card.locator(f'[data-field="{name}"]')).to_have_text(value)
        assert await card.locator("b").count() == 0
        local = datetime.fromisoformat(stub.cases[4]["created_at"]).astimezone(ZoneInfo("Asia/Tokyo"))
        await expect(card.locator('[data-field="created"]')).to_contain_text(local.strftime("%H:%M"))

        await page.clock.fast_forward(120_000)
        await expect(row(page, 4).locator(".waiting")).to_have_text("8 min")
        await expect(card.locator('[data-field="waiting"]')).to_have_text("8 min")


async def test_urgent_case_pushed_live_goes_on_top_with_alert_and_sound(browser: Browser) -> None:
    cases = [make_case(1, "normal", 300), make_case(2, "high", 200), make_case(3, "normal", 100)]
    async with serving(*cases) as stub, open_page(browser) as page:
        await log_in(page, stub)
        await expect(page.locator("#queue .row")).to_have_count(3)
        assert await page.locator("body").get_attribute("data-alerts") is None
        await expect(page.locator("#alert")).to_be_hidden()

        stub.cases[9] = make_case(9, "urgent", 5)
        await stub.push({"type": "case_opened", "case": stub.cases[9]})
        await expect(page.locator("#queue .row-button").first).to_have_attribute("data-id", "9")
        await expect(page.locator("#queue .row").first).to_have_class(re.compile(r"prio-urgent.*is-new"))
        await expect(page.locator("#alert-open")).to_have_text("Nouveau cas urgent : Cas n° 9")
        await expect(page.locator("body")).to_have_attribute("data-alerts", "1")  # the sound played once

        await stub.push({"type": "case_opened", "case": make_case(10, "normal", 1)})
        await expect(page.locator("#queue .row")).to_have_count(5)
        assert await queue_ids(page) == [9, 2, 1, 3, 10]
        await expect(page.locator("body")).to_have_attribute("data-alerts", "1")  # no sound for normal

        stub.cases[1]["priority"] = "urgent"
        await stub.push({"type": "case_updated", "case": stub.cases[1]})
        await expect(page.locator("body")).to_have_attribute("data-alerts", "2")
        assert await queue_ids(page) == [1, 9, 2, 3, 10]
        await page.locator("#alert-open").click()
        await expect(page.locator("#case-title")).to_have_text("Cas n° 1")
        await expect(page.locator("#queue .row.is-new")).to_have_count(1)


async def test_claim_reply_and_her_messages_live(browser: Browser) -> None:
    async with serving(make_case(1, "urgent", 300), make_case(2)) as stub, open_page(browser) as page:
        stub.add_message(1, "user", "salam, 3afak", ago=120)
        stub.add_message(1, "bot", "Je vous mets en relation.", ago=110)
        await log_in(page, stub)
        await open_case(page, 1)
        log, reply = page.locator("#log"), page.locator("#reply")
        await expect(log.locator(".msg-text")).to_have_text(["salam, 3afak", "Je vous mets en relation."])
        await expect(log.locator(".msg-author")).to_have_text(["Elle", "Bot"])
        await expect(reply).to_be_disabled()
        await expect(page.locator("#composer-hint")).to_contain_text("Prenez le cas en charge")

        await page.locator("#claim").click()
        await expect(reply).to_be_enabled()
        await expect(page.locator("#case-status")).to_have_text("Pris par amina")
        await reply.fill("Bonjour, je suis là.")
        await reply.press("Enter")
        await expect(log.locator(".msg-text").last).to_have_text("Bonjour, je suis là.")
        await expect(log.locator(".msg-author").last).to_have_text("amina")
        csrf, body = stub.posts("/api/cases/1/messages")[0]
        assert csrf == next(iter(stub.sessions.values()))["csrf_token"]
        assert body == {"text": "Bonjour, je suis là."}
        assert await reply.input_value() == ""

        await reply.press_sequentially("ligne 1")
        await reply.press("Shift+Enter")
        await reply.press_sequentially("ligne 2")
        assert await reply.input_value() == "ligne 1\nligne 2"
        assert len(stub.posts("/api/cases/1/messages")) == 1
        await page.locator("#send").click()
        await expect(log.locator(".msg-text").last).to_have_text("ligne 1\nligne 2")
        await expect(log.locator(".msg-text", has_text="Bonjour, je suis là.")).to_have_count(1)  # ws echo

        hostile = '<img src=x onerror="window.__ran=1">واش كاين شي حد؟'
        for text in (hostile, "rani hna"):
            await stub.push({"type": "message", "case": stub.cases[1], "message": stub.add_message(1, "user", text)})
        await expect(log.locator(".msg-text")).to_have_count(6)
        await expect(log.locator(".msg-text").nth(4)).to_have_text(hostile)
        await expect(log.locator(".msg-text").nth(5)).to_have_text("rani hna")
        assert await log.locator(".msg-text").nth(4).get_attribute("dir") == "auto"
        assert await log.locator("img").count() == 0 and await page.evaluate("window.__ran") is None

        await stub.push({"type": "message", "case": stub.cases[2], "message": stub.add_message(2, "user", "allo?")})
        await expect(row(page, 2)).to_contain_text("Nouveau message")
        await expect(log.locator(".msg-text")).to_have_count(6)

        stub.delivery_error = "whatsapp: window closed"
        await reply.fill("Vous êtes là ?")
        await reply.press("Enter")
        last = log.locator(".msg").last
        await expect(last).to_have_class(re.compile(r"\bis-undelivered\b"))
        await expect(last.locator(".msg-error")).to_have_text("Non délivré : whatsapp: window closed")


async def test_writing_first_against_her_callback_choice_needs_a_confirmation(browser: Browser) -> None:
    case = make_case(1, "high", 600, status="claimed", claimed_by="amina", callback_window="none")
    async with serving(case) as stub, open_page(browser) as page:
        await log_in(page, stub)
        await open_case(page, 1)
        await expect(page.locator("#card")).to_contain_text("Ne pas lui écrire en premier")
        reply, log = page.locator("#reply"), page.locator("#log")
        questions: list[str] = []

        async def answer(dialog, accept: bool) -> None:
            questions.append(dialog.message)
            await (dialog.accept() if accept else dialog.dismiss())

        page.once("dialog", lambda d: asyncio.ensure_future(answer(d, False)))
        await reply.fill("Bonjour, c'est Amina.")
        await reply.press("Enter")
        for _ in range(200):
            if questions:
                break
            await asyncio.sleep(0.05)
        assert questions and "personne ne lui écrive en premier" in questions[0]
        await expect(reply).to_have_value("Bonjour, c'est Amina.")  # kept, not sent
        assert [b for _, b in stub.posts("/api/cases/1/messages")] == [{"text": "Bonjour, c'est Amina."}]
        await expect(log.locator(".msg-text")).to_have_count(0)

        page.once("dialog", lambda d: asyncio.ensure_future(answer(d, True)))
        await page.locator("#send").click()
        await expect(log.locator(".msg-text")).to_have_text(["Bonjour, c'est Amina."])
        assert [b for _, b in stub.posts("/api/cases/1/messages")][-1] == {"text": "Bonjour, c'est Amina.",
                                                                             "confirm": True}
        await expect(reply).to_have_value("")


async def test_a_case_whose_callback_time_is_now_says_so(browser: Browser) -> None:
    async with serving(make_case(1, callback_window="evening"), make_case(2, callback_window="morning")) as stub, \
            open_page(browser) as page:
        await log_in(page, stub)
        await expect(row(page, 1)).to_contain_text("C'est son moment de rappel")
        await expect(row(page, 2)).not_to_contain_text("moment de rappel")
        await open_case(page, 1)
        await expect(page.locator("#card")).to_contain_text("Soir (00:00–24:00) · C'est son moment de rappel")
        await open_case(page, 2)
        await expect(page.locator("#card")).to_contain_text("Matin (00:00–00:00)")
        await expect(page.locator("#card")).not_to_contain_text("moment de rappel")


async def test_taken_transfer_and_close_with_outcome_and_referral(browser: Browser) -> None:
    cases = [make_case(1, ago=300), make_case(2, ago=200), make_case(3, ago=100), make_case(4, ago=50)]
    async with serving(*cases) as stub, open_page(browser) as page:
        stub.add_message(1, "user", "salam")
        stub.taken_by_sara.add(4)
        await log_in(page, stub)
        await open_case(page, 4)
        loads = stub.gets("/api/cases")
        await page.locator("#claim").click()  # a colleague was faster
        await expect(page.locator("#notice")).to_have_text("Déjà pris par un·e collègue. La file est mise à jour.")
        await expect(row(page, 4)).to_contain_text("Pris par sara")
        await expect(page.locator("#reply")).to_be_disabled()
        await expect(page.locator("#composer-hint")).to_have_text("Ce cas est suivi par sara.")
        assert stub.gets("/api/cases") > loads
        assert stub.gets("/api/cases/4") == 1  # her words are no longer this counsellor's to read

        await open_case(page, 1, claim=True)
        await expect(page.locator("#transfer-to option")).to_have_text(
            ["Remettre dans la file", "sara (en ligne)", "houda (hors ligne)"])
        await page.locator("#transfer-to").select_option("sara")
        await page.locator("#transfer").click()
        await expect(page.locator("#reply")).to_be_disabled()
        await expect(row(page, 1)).to_contain_text("Pris par sara")
        await expect(page.locator("#log .msg")).to_have_count(0)  # now sara's to read, not hers
        assert stub.posts("/api/cases/1/transfer")[0][1] == {"to": "sara"}

        await open_case(page, 2, claim=True)
        await page.locator("#transfer").click()  # the default: back to the queue
        await expect(page.locator("#claim")).to_be_visible()
        await expect(row(page, 2)).to_contain_text("En attente")
        assert stub.posts("/api/cases/2/transfer")[0][1] == {"to": None}

        await page.locator("#claim").click()
        await page.locator("#close").click()
        await expect(page.locator("#close-error")).to_have_text("Choisissez une issue avant de clore.")
        assert stub.posts("/api/cases/2/close") == []
        await expect(page.locator("#outcome option")).to_have_text(
            ["— choisir une issue —", "Orientée vers un service", "Écoute seulement"])
        await expect(page.locator("#service option").nth(1)).to_have_text(
            "Centre d'écoute Casa — Casablanca-Settat")  # her region first
        await page.locator("#outcome").select_option("referred")
        await expect(page.locator("#note")).to_be_disabled()
        await page.locator("#service").select_option("casa-shelter")
        await page.locator("#note").fill("rendez-vous lundi")
        await page.locator("#close").click()
        await expect(page.locator("#case-status")).to_have_text("Clos")
        await expect(row(page, 2)).to_have_count(0)
        await expect(page.locator("#manage")).to_be_hidden()
        assert stub.posts("/api/cases/2/close")[0][1] == {
            "outcome": "referred", "referral": {"service_id": "casa-shelter", "note": "rendez-vous lundi"}}

        await open_case(page, 3, claim=True)
        await page.locator("#outcome").select_option("listened")
        await page.locator("#close").click()
        await expect(row(page, 3)).to_have_count(0)
        assert stub.posts("/api/cases/3/close")[0][1] == {"outcome": "listened", "referral": None}


async def test_arabic_is_right_to_left_and_language_switches(browser: Browser) -> None:
    async with serving(make_case(1, "urgent")) as stub:
        async with open_page(browser, locale="en-US") as page:
            await log_in(page, stub)  # French by default
            await open_case(page, 1, claim=True)
            await page.locator("#lang").select_option("ar")
            html = page.locator("html")
            await expect(html).to_have_attribute("dir", "rtl")
            await expect(html).to_have_attribute("lang", "ar")
            await expect(page.locator("#send")).to_have_text("إرسال")
            await expect(row(page, 1).locator(".badge")).to_have_text(["عاجل"])
            await expect(page.locator("#outcome option").nth(1)).to_have_text("تم توجيهها")
            await expect(page.locator('#card [data-field="region"]')).to_have_text("الدار البيضاء-سطات")
            await expect(page.locator("#conn-text")).to_have_text("متصل")
            queue_box = await page.locator(".queue-pane").bounding_box()
            case_box = await page.locator(".case-pane").bounding_box()
            assert queue_box["x"] > case_box["x"]  # the queue sits on the right in Arabic

            await page.locator("#lang").select_option("en")
            await expect(html).to_have_attribute("dir", "ltr")
            await expect(page.locator("#send")).to_have_text("Send")
            await expect(page.locator("#case-title")).to_have_text("Case #1")
        async with open_page(browser, locale="ar-MA") as page:
            await page.goto(stub.base + "/console")
            await expect(page.locator("html")).to_have_attribute("dir", "rtl")
            await expect(page.locator("#login-btn")).to_have_text("دخول")


async def test_socket_reconnects_and_cases_reload_on_reconnect_and_resync(browser: Browser) -> None:
    async with serving(make_case(1)) as stub, open_page(browser) as page:
        await log_in(page, stub)
        await expect(page.locator("#queue .row")).to_have_count(1)
        stub.refuse_ws = True
        await stub.drop()
        await expect(page.locator("#conn")).to_have_attribute("data-state", "reconnecting")
        await expect(page.locator("#conn")).to_have_text("Reconnexion…")
        stub.cases[7] = make_case(7, "high")  # missed while away: no event for it
        await asyncio.sleep(1.0)
        stub.refuse_ws = False
        await expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=15_000)
        await expect(row(page, 7)).to_have_count(1)

        stub.cases[8] = make_case(8, "urgent")
        await stub.push({"type": "resync"})
        await expect(row(page, 8)).to_have_count(1)
        assert await queue_ids(page) == [8, 7, 1]
