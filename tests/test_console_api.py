"""The live handoff through the real gateway app: her web chat on one side, a counsellor's console
on the other, a fake Rasa and a fake Telegram Bot API on loopback. On SQLite with the in-process
bus, and on PostgreSQL with Redis pub/sub."""

from __future__ import annotations

import asyncio
import gzip
import logging
import tracemalloc
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import AsyncIterator
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import sqlalchemy as sa

from bot.app import STORE
from bot.notices import REPLAY_AFTER_CLOSE
from channels.webchat.socket import SessionIds
from core.privacy import Cipher, conversation_id
from core.settings import Settings
from core.store import Store, cases, contacts, utcnow
from handoff import callback
from handoff.accounts import AccountError, add_user, remove_user
from handoff.callback import callback_windows
from handoff.console import hub
from handoff.console.api import MESSAGES_PAGE
from tests.support.expect import said_text
from tests.support.fakes import FakeRasa, FakeTelegram, serve
from tests.support.gateway import BACKENDS, served_gateway
from tools.clients import ChatClient, ConsoleClient, texts

PASSWORD = "correct horse battery"
TOKEN = "123456:TEST-TOKEN"
ONCALL = ("1001", "1002")


@dataclass
class Gateway:
    url: str
    settings: Settings
    store: Store
    rasa: FakeRasa
    telegram: FakeTelegram

    def conv(self, chat: ChatClient) -> str:
        return conversation_id(self.settings.secret, "webchat", chat.session_id)

    async def handoff(self, chat: ChatClient, priority: str = "urgent", **body: object) -> dict:
        """What the action server does when she asks for a counsellor (or is in danger)."""
        headers = {"Authorization": f"Bearer {self.settings.internal_token}"}
        payload = {"conversation_id": self.conv(chat), "priority": priority, "lang": "fr", "danger": priority == "urgent",
                   "category": "danger", "summary": "il me menace, j'ai peur", **body}
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{self.settings.gateway_internal_url}/internal/handoff", json=payload,
                                 headers=headers) as response:
                assert response.status == 200
                return await response.json()

    async def intake_done(self, chat: ChatClient) -> None:
        headers = {"Authorization": f"Bearer {self.settings.internal_token}"}
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{self.settings.gateway_internal_url}/internal/conversations/{self.conv(chat)}/case",
                                 json={"intake_done": True}, headers=headers) as response:
                assert response.status == 200


@pytest.fixture(params=BACKENDS)
async def gateway(request, tmp_path, monkeypatch) -> AsyncIterator[Gateway]:
    # Consoles and callback times checked often, so that what they trigger happens within the test's patience.
    monkeypatch.setattr(hub, "PRESENCE_EVERY_SECONDS", 0.5)
    monkeypatch.setattr(callback, "CHECK_EVERY_SECONDS", 0.3)
    rasa, telegram = FakeRasa(), FakeTelegram(TOKEN)
    async for rasa_url in serve(rasa.app()):
        async for telegram_url in serve(telegram.app()):
            rasa.url, telegram.url = rasa_url, telegram_url
            env = {
                "MAAK_SECRET": "console-test-secret",
                "MAAK_DATA_KEY": "console-test-key",
                "MAAK_HANDOFF_SLA_SECONDS": "2",
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_WEBHOOK_SECRET": "hook-secret",
                "TELEGRAM_API_BASE": telegram.base_url,
                "TELEGRAM_ONCALL_CHAT_IDS": ",".join(ONCALL),
            }
            async with served_gateway(tmp_path / "var", request.param, rasa_url, env) as (url, settings, app):
                store = app[STORE]
                for name, role in (("amina", "counsellor"), ("salma", "counsellor"), ("nadia", "supervisor"),
                                   ("partner1", "partner")):
                    await store.run(add_user, store, name, role, PASSWORD)
                yield Gateway(url, settings, store, rasa, telegram)


async def _her_texts(chat: ChatClient, start: int, count: int, timeout: float = 10) -> list[str]:
    """The texts she received from index `start`, once there are `count` of them."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(chat.received) < start + count and loop.time() < deadline:
        await asyncio.sleep(0.05)
    return [r.get("text") or "" for r in chat.received[start:]]


# -- accounts ---------------------------------------------------------------------------------
async def test_login_sets_a_strict_httponly_cookie_and_wrong_logins_say_the_same(gateway):
    async with aiohttp.ClientSession() as http:
        login = f"{gateway.url}/api/auth/login"
        async with http.post(login, json={"username": "amina", "password": "wrong password"}) as wrong:
            wrong_body = await wrong.json()
            assert wrong.status == 401
        async with http.post(login, json={"username": "nobody", "password": "wrong password"}) as unknown:
            assert unknown.status == 401 and await unknown.json() == wrong_body
        async with http.post(login, json={"username": "partner1", "password": PASSWORD}) as partner:
            assert partner.status == 403
        async with http.post(login, json={"username": "amina", "password": PASSWORD}) as right:
            assert right.status == 200
            cookie = right.headers["Set-Cookie"]
            assert "maak_session=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        for bad in (b"not json", b"[1,2]", b'{"username": 5}', b"\xff\xfe"):
            async with http.post(login, data=bad, headers={"Content-Type": "application/json"}) as response:
                assert response.status == 400 and "error" in await response.json()


async def test_a_compressed_bomb_before_any_login_is_refused_without_inflating_it(gateway):
    # 200 MB of spaces gzipped into about 200 KB: the body is refused at the size cap while it is
    # read, not inflated first (the gateway's memory is the target), and the gateway carries on.
    bomb = gzip.compress(b"{" + b" " * (200 * 1024 * 1024) + b"}", 9)
    tracemalloc.start()
    try:
        async with aiohttp.ClientSession(auto_decompress=False) as http:
            async with http.post(f"{gateway.url}/api/auth/login", data=bomb,
                                 headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}) as response:
                assert response.status in (400, 413)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 1024 * 1024, f"{peak / 2**20:.0f} MB"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{gateway.url}/api/auth/login", json={"username": "amina", "password": PASSWORD}) as right:
            assert right.status == 200


async def test_a_live_feed_ends_with_its_session(gateway):
    async with ConsoleClient(gateway.url, "amina", PASSWORD) as amina, \
            ConsoleClient(gateway.url, "salma", PASSWORD) as salma, \
            ConsoleClient(gateway.url, "nadia", PASSWORD) as nadia, ChatClient(gateway.url) as chat:
        # Logged out: her feed closes at once.
        code, _ = await salma.call("POST", "/api/auth/logout")
        assert code == 204 and await salma.closed_by_server(timeout=5) == hub.SESSION_ENDED
        # An account removed (by `maak user remove`, another process): its feed closes within seconds,
        # and not one more case reaches it.
        await gateway.store.run(remove_user, gateway.store, "amina")
        assert await amina.closed_by_server(timeout=5) == hub.SESSION_ENDED
        seen = len(amina.events)
        await chat.say("bonjour")
        await gateway.handoff(chat)
        await nadia.wait_for(lambda e: e["type"] == "case_opened")  # the others still hear it
        assert len(amina.events) == seen
        assert (await amina.call("GET", "/api/cases"))[0] == 401
        # Removed, she is offline: nobody is told a counsellor is coming on her account.
        assert "amina" not in await gateway.store.run(gateway.store.users_online, ("counsellor",), timedelta(minutes=1))


async def test_an_account_holding_open_cases_is_not_removed(gateway):
    async with ConsoleClient(gateway.url, "amina", PASSWORD) as amina, ChatClient(gateway.url) as chat:
        await chat.say("bonjour")
        case_id = (await gateway.handoff(chat))["case_id"]
        await amina.claim(case_id)
        with pytest.raises(AccountError, match=f"#{case_id}"):
            await gateway.store.run(remove_user, gateway.store, "amina")
        assert (await amina.call("GET", "/api/cases"))[0] == 200
        await amina.close(case_id)
        await gateway.store.run(remove_user, gateway.store, "amina")
        assert await amina.closed_by_server(timeout=5) == hub.SESSION_ENDED


async def test_logins_are_rate_limited_even_with_the_right_password(gateway):
    async with aiohttp.ClientSession() as http:
        login = f"{gateway.url}/api/auth/login"
        for _ in range(5):
            async with http.post(login, json={"username": "salma", "password": "guess guess"}) as response:
                assert response.status == 401
        async with http.post(login, json={"username": "salma", "password": PASSWORD}) as response:
            assert response.status == 429 and int(response.headers["Retry-After"]) > 0
        # Another counsellor is not locked out by it.
        async with http.post(login, json={"username": "amina", "password": PASSWORD}) as response:
            assert response.status == 200


async def test_the_internal_api_is_on_its_own_listener_and_needs_its_token(gateway):
    body = {"conversation_id": "c" * 64, "priority": "urgent", "danger": True, "summary": "forged"}
    async with aiohttp.ClientSession() as http:
        # Not on the public port, even with the right token.
        token = {"Authorization": f"Bearer {gateway.settings.internal_token}"}
        async with http.post(f"{gateway.url}/internal/handoff", json=body, headers=token) as response:
            assert response.status == 404
        internal = gateway.settings.gateway_internal_url
        assert internal.startswith("http://127.0.0.1:") and internal != gateway.url
        # On its own, without the token or with another hop's, nothing is opened.
        for headers in ({}, {"Authorization": f"Bearer {gateway.settings.rasa_token}"}, {"Authorization": "Bearer "}):
            async with http.post(f"{internal}/internal/handoff", json=body, headers=headers) as response:
                assert response.status == 401
        async with http.post(f"{internal}/internal/handoff", data=b"x" * 100_000,
                             headers={**token, "Content-Type": "application/json"}) as response:
            assert response.status == 413
    assert gateway.store.open_case_for("c" * 64) is None


async def test_the_api_needs_a_session_and_changes_need_the_csrf_token(gateway):
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(f"{gateway.url}/api/cases") as response:
            assert response.status == 401
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await anonymous.ws_connect(f"{gateway.url}/api/console/ws")
        assert refused.value.status == 401
    async with ConsoleClient(gateway.url, "amina", PASSWORD) as console, ChatClient(gateway.url) as chat:
        await chat.say("bonjour")
        case_id = (await gateway.handoff(chat))["case_id"]
        assert (await console.call("POST", f"/api/cases/{case_id}/claim", csrf=False))[0] == 403
        async with console.http.post(f"{gateway.url}/api/cases/{case_id}/claim",
                                     headers={"X-CSRF-Token": console.csrf, "Origin": "https://evil.example"}) as r:
            assert r.status == 403
        code, _ = await console.call("POST", "/api/auth/logout")
        assert code == 204
        assert (await console.call("GET", "/api/cases"))[0] == 401


# -- the relay --------------------------------------------------------------------------------
async def test_a_full_handoff_both_ways_in_order_then_the_bot_resumes(gateway):
    async with ConsoleClient(gateway.url, "amina", PASSWORD) as console, ChatClient(gateway.url) as chat:
        await chat.say("bonjour")
        result = await gateway.handoff(chat)
        assert result["position"] == 1 and result["counsellors_online"] == 1
        opened = await console.wait_for(lambda e: e["type"] == "case_opened")
        case = opened["case"]
        assert case["priority"] == "urgent" and case["danger"] and "peur" in case["summary"]
        await gateway.intake_done(chat)

        start = len(chat.received)
        await chat.send({"message": "il est dans la cuisine", "session_id": chat.session_id})
        await console.wait_for(lambda e: e["type"] == "message" and e["message"]["text"] == "il est dans la cuisine")
        assert len(gateway.rasa.received) == 1  # the bot stays out of it

        await console.claim(case["id"])
        # The bot's questions stop when the counsellor takes over.
        assert (gateway.conv(chat), [{"event": "active_loop", "name": None},
                                     {"event": "slot", "name": "requested_slot", "value": None}]) in gateway.rasa.tracker_events
        sent = await console.write(case["id"], "Je suis Amina, je suis là. Pouvez-vous sortir ?")
        assert sent["delivery_error"] is None and sent["counsellor"] == "amina"
        for i in range(3):
            await chat.send({"message": f"réponse {i}", "session_id": chat.session_id})
        last = await console.wait_for(lambda e: e["type"] == "message" and e["message"]["text"] == "réponse 2")
        heard = [e["message"]["text"] for e in console.events if e["type"] == "message"]
        assert heard[-3:] == ["réponse 0", "réponse 1", "réponse 2"]
        assert last["case"]["status"] == "claimed"

        await console.close(case["id"], "referred", {"service_id": "tta-court-cell", "note": "appel demain"})
        her = await _her_texts(chat, start, 3)
        assert "Une conseillère a rejoint la conversation." in her
        assert "Je suis Amina, je suis là. Pouvez-vous sortir ?" in her
        assert her[-1].startswith("La conseillère a fermé la conversation")
        assert her.index("Une conseillère a rejoint la conversation.") < her.index(
            "Je suis Amina, je suis là. Pouvez-vous sortir ?")
        await console.wait_for(lambda e: e["type"] == "case_closed")

        await chat.say("merci")  # the bot is back
        assert gateway.rasa.received[-1]["message"] == "merci"

    store = gateway.store
    actions = [(a["actor"], a["action"]) for a in store.audit_entries(case["id"])]
    assert ("amina", "claim") in actions and ("amina", "message") in actions and ("amina", "close") in actions
    with store.engine.connect() as conn:
        raw = " ".join(str(v) for t in ("maak_case_messages", "maak_cases", "maak_referrals")
                       for row in conn.execute(sa.text(f"SELECT * FROM {t}")) for v in row)
    assert "cuisine" not in raw and "Amina" not in raw and "appel demain" not in raw and "peur" not in raw


async def test_every_view_of_a_case_is_audited_and_her_words_are_need_to_know(gateway):
    async with ConsoleClient(gateway.url, "amina", PASSWORD) as amina, \
            ConsoleClient(gateway.url, "salma", PASSWORD) as salma, ChatClient(gateway.url) as chat:
        await chat.say("bonjour")
        case_id = (await gateway.handoff(chat))["case_id"]
        code, detail = await salma.call("GET", f"/api/cases/{case_id}")
        assert code == 200 and "peur" in detail["case"]["summary"]
        await amina.claim(case_id)
        code, _ = await salma.call("GET", f"/api/cases/{case_id}")
        assert code == 403  # held by a colleague
        listed = {c["id"]: c for c in await salma.cases()}
        assert listed[case_id]["summary"] == "" and listed[case_id]["claimed_by"] == "amina"
        code, _ = await salma.call("POST", f"/api/cases/{case_id}/messages", {"text": "bonjour"})
        assert code == 403
    views = [(a["actor"], a["action"]) for a in gateway.store.audit_entries(case_id)]
    assert ("salma", "view") in views
    # Her words shown in each live feed are audited too, once per feed however many events follow.
    assert views.count(("amina", "feed")) == 1 and views.count(("salma", "feed")) == 1


async def test_a_long_case_comes_a_page_at_a_time(gateway):
    async with ConsoleClient(gateway.url, "amina", PASSWORD) as amina, ChatClient(gateway.url) as chat:
        await chat.say("bonjour")
        case_id = (await gateway.handoff(chat))["case_id"]
        case = await gateway.store.run(gateway.store.get_case, case_id)
        for i in range(MESSAGES_PAGE + 4):
            await gateway.store.run(gateway.store.add_case_message, case["id"], "user", Cipher(b"console-test-key")
                                    .encrypt(f"message {i}"))
        code, newest = await amina.call("GET", f"/api/cases/{case_id}")
        assert code == 200 and len(newest["messages"]) == MESSAGES_PAGE and newest["more"]
        assert newest["messages"][-1]["text"] == f"message {MESSAGES_PAGE + 3}"
        code, older = await amina.call("GET", f"/api/cases/{case_id}?before={newest['messages'][0]['id']}")
        assert code == 200 and not older["more"]
        texts_ = [m["text"] for m in older["messages"] + newest["messages"]]
        assert texts_[-(MESSAGES_PAGE + 4):] == [f"message {i}" for i in range(MESSAGES_PAGE + 4)]
        for bad in ("before=abc", "before=-1", "before=0", "limit=x", "before=²"):
            assert (await amina.call("GET", f"/api/cases/{case_id}?{bad}"))[0] == 400


async def test_no_answer_of_the_api_stays_in_a_browser_cache(gateway):
    async with ConsoleClient(gateway.url, "amina", PASSWORD) as amina, ChatClient(gateway.url) as chat:
        await chat.say("zebracorn-7736 rajli kaydrebni daba")
        case = (await amina.wait_for(lambda e: e["type"] == "case_opened"))["case"]
        for path in ("/api/cases", f"/api/cases/{case['id']}", "/api/auth/me", "/api/cases/999999"):
            async with amina.http.get(gateway.url + path) as response:
                assert response.headers.get("Cache-Control") == "no-store", path


async def test_the_console_config_names_outcomes_colleagues_and_callback_hours(gateway):
    async with ConsoleClient(gateway.url, "amina", PASSWORD) as amina, ConsoleClient(gateway.url, "salma", PASSWORD):
        code, config = await amina.call("GET", "/api/console/config")
    assert code == 200
    assert {"listened", "referred"} <= {o["code"] for o in config["outcomes"]}
    assert {"username": "salma", "role": "counsellor", "online": True} in config["colleagues"]
    assert all(c["username"] != "amina" for c in config["colleagues"])
    assert config["callback"] == callback_windows().as_json()
    assert config["callback"]["windows"]["evening"] == {"from": "17:00", "to": "21:00"}


async def test_transfer_to_a_colleague_and_back_to_the_queue(gateway):
    async with ConsoleClient(gateway.url, "amina", PASSWORD) as amina, \
            ConsoleClient(gateway.url, "salma", PASSWORD) as salma, ChatClient(gateway.url) as chat:
        await chat.say("bonjour")
        case_id = (await gateway.handoff(chat, priority="high"))["case_id"]
        await amina.claim(case_id)
        code, body = await amina.call("POST", f"/api/cases/{case_id}/transfer", {"to": "nobody"})
        assert code == 400
        code, body = await amina.call("POST", f"/api/cases/{case_id}/transfer", {"to": "salma"})
        assert code == 200 and body["case"]["claimed_by"] == "salma"
        await salma.write(case_id, "Bonjour, c'est Salma qui continue avec vous.")
        start = len(chat.received)
        code, body = await salma.call("POST", f"/api/cases/{case_id}/transfer", {"to": None})
        assert code == 200 and body["case"]["status"] == "queued"
        her = await _her_texts(chat, start, 1)
        assert "n° 1" in her[-1]


async def test_her_place_in_line_is_told_when_it_changes(gateway):
    async with ConsoleClient(gateway.url, "amina", PASSWORD) as console, \
            ChatClient(gateway.url) as first, ChatClient(gateway.url) as second:
        await first.say("bonjour")
        await second.say("bonjour")
        one = await gateway.handoff(first, priority="high")
        two = await gateway.handoff(second, priority="high")
        assert (one["position"], two["position"]) == (1, 2)
        start = len(second.received)
        await console.claim(one["case_id"])
        assert "n° 1" in (await _her_texts(second, start, 1))[-1]
        # Told once: a message of hers does not repeat it.
        await gateway.intake_done(second)
        await second.send({"message": "d'accord", "session_id": second.session_id})
        await asyncio.sleep(1)
        assert [r["text"] for r in second.received[start:] if r.get("text")] == [
            "Une conseillère va vous répondre ici bientôt. Vous êtes n° 1 dans la file."]


async def test_a_reply_that_cannot_be_delivered_is_kept_and_shown(gateway):
    async with ConsoleClient(gateway.url, "amina", PASSWORD) as console, ChatClient(gateway.url) as chat:
        await chat.say("bonjour")
        case_id = (await gateway.handoff(chat))["case_id"]
        await console.claim(case_id)
        with gateway.store.engine.begin() as conn:  # her contact is gone (e.g. purged), the case stays
            conn.execute(sa.text("DELETE FROM maak_contacts"))
        message = await console.write(case_id, "Vous êtes toujours là ?")
        assert message["delivery_error"]
        shown = await console.wait_for(lambda e: e["type"] == "message" and e["message"].get("delivery_error"))
        assert shown["message"]["text"] == "Vous êtes toujours là ?"
        code, detail = await console.call("GET", f"/api/cases/{case_id}")
        assert detail["messages"][-1]["delivery_error"]


async def _talking_with_her(gateway: Gateway, console: ConsoleClient, chat: ChatClient) -> int:
    """She wrote, a counsellor took her case and said "Je suis là.", and she has it; the case id."""
    await chat.say("bonjour")
    case_id = (await gateway.handoff(chat))["case_id"]
    await console.claim(case_id)
    await console.write(case_id, "Je suis là.")
    await _her_texts(chat, 0, 3)
    return case_id


async def test_what_a_counsellor_wrote_while_her_phone_was_offline_reaches_her_on_return(gateway):
    async with ConsoleClient(gateway.url, "amina", PASSWORD) as console, ChatClient(gateway.url) as chat:
        case_id = await _talking_with_her(gateway, console, chat)
        assert "Je suis là." in texts(chat.received)

        await chat.sio.disconnect()  # her network drops
        for text in ("Vous êtes en sécurité ?", "Appelez le 19 si besoin."):
            await console.write(case_id, text)
        await console.close(case_id, "safety_plan")
        start = len(chat.received)
        await chat.come_back()
        her = await _her_texts(chat, start, 3)
        # What she missed, in order, once, and that the counsellor has left since; what she had
        # already seen (the counsellor joining, her first words) is not sent again.
        assert her[:2] == ["Vous êtes en sécurité ?", "Appelez le 19 si besoin."], her
        assert said_text([{"text": her[2]}], "handoff_resumed", "fr") and len(her) == 3, her
        await asyncio.sleep(0.5)
        assert len(chat.received) == start + 3

        # A page that did not live through the conversation (no `seen`) is not given its messages.
        other_page = ChatClient(gateway.url)
        other_page.session_id = chat.session_id
        async with other_page:
            await asyncio.sleep(0.5)
            assert other_page.received == []
        # A bad `seen` is ignored, and crashes nothing.
        for seen in ("3", -1, True, 2**70, None):
            await chat.sio.emit("session_request", {"session_id": chat.session_id, "seen": seen})
        await asyncio.sleep(0.5)
        assert len(chat.received) == start + 3


async def test_the_replay_is_hers_alone_and_ends_soon_after_the_case_closes(gateway):
    async with ConsoleClient(gateway.url, "amina", PASSWORD) as console, ChatClient(gateway.url) as chat:
        case_id = await _talking_with_her(gateway, console, chat)
        # Her session id is the server's, not the one her client proposed.
        assert SessionIds(gateway.settings.secret).issued(chat.session_id)
        altered = chat.session_id[:-1] + ("A" if chat.session_id[-1] != "A" else "B")
        for forged in (uuid.uuid4().hex, "a" * 46, altered):
            # Someone with a made-up or altered id gets a new conversation, and nothing of hers.
            stranger = ChatClient(gateway.url)
            stranger.session_id = forged
            async with stranger:
                await stranger.sio.emit("session_request", {"session_id": forged, "seen": 0})
                await asyncio.sleep(0.5)
                assert stranger.received == [] and stranger.session_id != forged
        await console.close(case_id)
        with gateway.store.engine.begin() as conn:
            conn.execute(sa.update(cases).where(cases.c.id == case_id)
                         .values(closed_at=utcnow() - REPLAY_AFTER_CLOSE - timedelta(minutes=1)))
        # Past the window after closing, even her own id replays nothing: it is not her page coming back.
        late = ChatClient(gateway.url)
        late.session_id = chat.session_id
        async with late:
            assert late.session_id == chat.session_id
            await late.sio.emit("session_request", {"session_id": chat.session_id, "seen": 0})
            await asyncio.sleep(0.5)
            assert late.received == []


async def test_offline_when_the_counsellor_joined_she_is_told_so_on_return(gateway):
    async with ConsoleClient(gateway.url, "amina", PASSWORD) as console, ChatClient(gateway.url) as chat:
        await chat.say("bonjour")
        case_id = (await gateway.handoff(chat))["case_id"]
        await chat.sio.disconnect()
        await console.claim(case_id)
        await console.write(case_id, "Je suis Amina.")
        start = len(chat.received)
        await chat.come_back()
        her = await _her_texts(chat, start, 2)
        assert said_text([{"text": her[0]}], "handoff_joined", "fr") and her[1:] == ["Je suis Amina."], her
        await console.close(case_id)


async def test_forget_me_during_a_handoff_erases_her_case_from_the_console(gateway):
    async with ConsoleClient(gateway.url, "amina", PASSWORD) as console, ChatClient(gateway.url) as chat:
        await chat.say("bonjour")
        case_id = (await gateway.handoff(chat))["case_id"]
        await console.claim(case_id)
        await chat.say("/forget")
        gone = await console.wait_for(lambda e: e["type"] == "case_closed" and e["case"]["id"] == case_id)
        assert gone["case"]["outcome"] == "erased" and gone["case"]["summary"] == ""
        assert (await console.call("GET", f"/api/cases/{case_id}"))[0] == 404
        assert case_id not in [c["id"] for c in await console.cases()]


async def test_bad_requests_get_clear_errors(gateway):
    async with ConsoleClient(gateway.url, "amina", PASSWORD) as console, ChatClient(gateway.url) as chat:
        await chat.say("bonjour")
        case_id = (await gateway.handoff(chat))["case_id"]
        assert (await console.call("GET", "/api/cases?status=everything"))[0] == 400
        assert (await console.call("GET", "/api/cases/abc"))[0] == 404
        assert (await console.call("GET", "/api/cases/99999"))[0] == 404
        assert (await console.call("POST", f"/api/cases/{case_id}/messages", {"text": "x"}))[0] == 409  # not claimed
        await console.claim(case_id)
        code, body = await console.call("POST", f"/api/cases/{case_id}/claim")
        assert code == 409 and body["error"]
        for bad in ({}, {"text": ""}, {"text": 5}, {"text": "x" * 5000}):
            assert (await console.call("POST", f"/api/cases/{case_id}/messages", bad))[0] == 400
        async with console.http.post(f"{gateway.url}/api/cases/{case_id}/messages", data=b"\x00\xff{",
                                     headers={"X-CSRF-Token": console.csrf}) as response:
            assert response.status == 400
        for bad in ({"outcome": "invented"}, {"outcome": "referred", "referral": {"service_id": "nowhere"}},
                    {"outcome": "referred", "referral": "cst"}):
            assert (await console.call("POST", f"/api/cases/{case_id}/close", bad))[0] == 400
        async with console.http.post(f"{gateway.url}/api/cases/{case_id}/messages", data=b"x" * 400_000,
                                     headers={"X-CSRF-Token": console.csrf}) as response:
            assert response.status == 413
        await console.close(case_id)
        assert (await console.call("POST", f"/api/cases/{case_id}/close", {"outcome": "listened"}))[0] == 409
        await console._ws.send_str("not json")
        await console.wait_for(lambda e: e["type"] == "error")
        await console._ws.send_str('{"type": "ping"}')
        await console.wait_for(lambda e: e["type"] == "pong")


# -- nobody online, the SLA ------------------------------------------------------------------
async def test_nobody_online_is_said_and_her_callback_window_is_kept(gateway):
    async with ChatClient(gateway.url) as chat:
        await chat.say("bonjour")
        result = await gateway.handoff(chat, priority="high")
        assert result["counsellors_online"] == 0
        replies = await chat.say('/callback_window{"window":"evening"}')
        assert "noté" in texts(replies)
        assert gateway.store.get_case(result["case_id"])["callback_window"] == "evening"
        assert all(r["message"] != '/callback_window{"window":"evening"}' for r in gateway.rasa.received)


def _away(gateway: Gateway, chat: ChatClient, minutes: int = 60) -> None:
    """She last wrote `minutes` ago."""
    with gateway.store.engine.begin() as conn:
        conn.execute(sa.update(contacts).where(contacts.c.conversation_id == gateway.conv(chat))
                     .values(last_seen_at=utcnow() - timedelta(minutes=minutes)))


@pytest.mark.parametrize("choice", ["none", "outside her window"])
async def test_a_first_message_against_her_callback_choice_needs_a_confirmation(gateway, choice):
    here = datetime.now(ZoneInfo("Africa/Casablanca"))
    windows = callback_windows()
    # A window closed now and for the next minutes, whatever the hour the test runs at.
    closed = [n for n, (a, b) in windows.hours.items()
              if not any(a <= (here + timedelta(minutes=m)).time() < b for m in (0, 5))]
    window = "none" if choice == "none" else closed[0]
    async with ChatClient(gateway.url) as chat:
        await chat.say("bonjour")
        case_id = (await gateway.handoff(chat, priority="high"))["case_id"]  # nobody online yet
        await chat.say(f'/callback_window{{"window":"{window}"}}')
        _away(gateway, chat)
        async with ConsoleClient(gateway.url, "amina", PASSWORD) as console:
            await console.claim(case_id)
            start = len(chat.received)
            code, body = await console.call("POST", f"/api/cases/{case_id}/messages", {"text": "Bonjour, c'est Amina."})
            assert code == 409, body
            assert body["reason"] == ("callback_none" if window == "none" else "callback_window")
            if window != "none":
                start_at, end_at = windows.hours[window]
                assert body["window"] == window and body["hours"] == f"{start_at:%H:%M}-{end_at:%H:%M}"
            assert all(m["author"] != "counsellor" for m in (await console.call("GET", f"/api/cases/{case_id}"))[1]["messages"])
            await asyncio.sleep(0.3)
            assert len(chat.received) == start  # nothing reached her

            code, body = await console.call("POST", f"/api/cases/{case_id}/messages",
                                            {"text": "Bonjour, c'est Amina.", "confirm": True})
            assert code == 201, body
            assert await _her_texts(chat, start, 1) == ["Bonjour, c'est Amina."]
            actions = [(a["actor"], a["action"]) for a in gateway.store.audit_entries(case_id)]
            assert ("amina", "message_outside_callback") in actions

            # She writes again: she is at her phone, a reply needs no confirmation.
            await chat.send({"message": "oui je suis là", "session_id": chat.session_id})
            await console.wait_for(lambda e: e["type"] == "message" and e["message"]["text"] == "oui je suis là")
            await console.write(case_id, "Merci. Vous êtes en sécurité ?")
            await console.close(case_id)


async def test_when_her_callback_time_comes_on_call_is_alerted_once(gateway, monkeypatch):
    windows = callback_windows()
    # Her evening, for this test, is now; the other windows are not.
    always = replace(windows, hours={**{n: (time(0), time(0)) for n in windows.hours}, "evening": (time(0), time.max)})
    monkeypatch.setattr(callback, "callback_windows", lambda: always)
    async with ChatClient(gateway.url) as chat, ChatClient(gateway.url) as other:
        await chat.say("bonjour")
        case_id = (await gateway.handoff(chat, priority="high"))["case_id"]
        await other.say("bonjour")
        other_id = (await gateway.handoff(other, priority="high"))["case_id"]
        start = len(chat.received)
        async with ConsoleClient(gateway.url, "amina", PASSWORD) as console:
            await chat.say('/callback_window{"window":"evening"}')
            await other.say('/callback_window{"window":"morning"}')
            due = await console.wait_for(lambda e: e["type"] == "case_updated" and e["case"]["id"] == case_id
                                         and e.get("change") == "callback_due", timeout=10)
            assert due["case"]["callback_window"] == "evening"
            await asyncio.sleep(1.5)  # more checks: announced once a day, and not the morning one
            alerts = [a for a in gateway.telegram.sent() if "rappel" in a["text"]]
            assert sorted(str(a["chat_id"]) for a in alerts) == sorted(ONCALL)
            assert all(f"#{case_id}" in a["text"] and "peur" not in a["text"] for a in alerts)
            assert not any(f"#{other_id}" in a["text"] for a in gateway.telegram.sent())
            assert len(chat.received) == start + 1  # only "noted": she is not messaged by the bot then
            for case in (case_id, other_id):
                await console.claim(case)
                await console.close(case)


async def test_an_unclaimed_urgent_case_escalates_once_she_is_told_and_on_call_alerted(gateway, caplog):
    caplog.set_level(logging.INFO)
    async with ConsoleClient(gateway.url, "amina", PASSWORD) as console, ChatClient(gateway.url) as chat:
        await chat.say("bonjour")
        start = len(chat.received)
        case_id = (await gateway.handoff(chat))["case_id"]
        escalated = await console.wait_for(lambda e: e["type"] == "case_updated" and e["case"]["escalated"], timeout=15)
        assert escalated["case"]["id"] == case_id
        her = await _her_texts(chat, start, 1)
        assert "Pardon pour l'attente" in her[-1] and "19" in her[-1]
        await asyncio.sleep(3)  # a few more SLA checks: still told only once
        assert sum("Pardon pour l'attente" in t for t in await _her_texts(chat, start, 1)) == 1
        alerts = gateway.telegram.sent()
        assert sorted(str(a["chat_id"]) for a in alerts) == sorted(ONCALL)
        assert all(f"#{case_id}" in a["text"] and "peur" not in a["text"] for a in alerts)
        assert (await console.cases("queued"))[0]["id"] == case_id
    logged = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert "peur" not in logged and chat.session_id not in logged and "bonjour" not in logged
