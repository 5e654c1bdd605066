"""WhatsApp and Telegram through the whole of Maak: `maak run` with both channels configured, the
platforms replaced by fakes on loopback. A full conversation on each: an urgent message, the
handoff, a counsellor's reply reaching her, a redelivered message handled once, unsigned requests
refused — and neither her number nor her chat id nor her words in the logs."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import aiohttp
import pytest
import requests

from core.store import Store
from handoff.accounts import add_user
from tests.conftest import start_stack
from tests.support.expect import conversation
from tests.support.fakes import FakeGraph, FakeTelegram, ServedInThread
from tools.clients import ConsoleClient
from tools.stack import Stack, stop

PASSWORD = "correct horse battery"
APP_SECRET, VERIFY_TOKEN, ACCESS_TOKEN, PHONE_ID = "wa-app-secret", "wa-verify", "wa-access", "106540352242922"
BOT_TOKEN, HOOK_SECRET = "123456:ABC-stack", "hook-secret-1"
HER_NUMBER, HER_CHAT = "212612345678", 987654321
_ids = itertools.count(1)


@dataclass
class Platforms:
    stack: Stack
    graph: FakeGraph
    telegram: FakeTelegram


@pytest.fixture(scope="module")
def platforms(model, tmp_path_factory) -> Iterator[Platforms]:
    graph, telegram = FakeGraph(ACCESS_TOKEN, PHONE_ID), FakeTelegram(BOT_TOKEN)
    with ServedInThread(graph.app()) as graph_server, ServedInThread(telegram.app()) as telegram_server:
        graph.url, telegram.url = graph_server.url, telegram_server.url
        folder = tmp_path_factory.mktemp("channels")
        stack = start_stack(folder, {
            "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN, "WHATSAPP_APP_SECRET": APP_SECRET,
            "WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN, "WHATSAPP_PHONE_NUMBER_ID": PHONE_ID,
            "WHATSAPP_API_BASE": f"{graph.url}/v21.0",
            "TELEGRAM_BOT_TOKEN": BOT_TOKEN, "TELEGRAM_WEBHOOK_SECRET": HOOK_SECRET,
            "TELEGRAM_API_BASE": telegram.base_url,
        })
        store = Store(stack.settings.store_url)
        add_user(store, "amina", "counsellor", PASSWORD)
        store.dispose()
        try:
            yield Platforms(stack, graph, telegram)
        finally:
            stop(stack)


def _whatsapp_update(text: str, wamid: str) -> bytes:
    message = {"from": HER_NUMBER, "id": wamid, "timestamp": "1763845200", "type": "text", "text": {"body": text}}
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "212500000000", "phone_number_id": PHONE_ID},
            "contacts": [{"profile": {"name": "Salma"}, "wa_id": HER_NUMBER}],
            "messages": [message]}}]}]}).encode()


def _whatsapp_status(state: str, code: int, data: str) -> bytes:
    status = {"id": "wamid.sent-1", "status": state, "timestamp": "1763845300", "recipient_id": HER_NUMBER,
              "biz_opaque_callback_data": data, "errors": [{"code": code, "title": "Re-engagement message"}]}
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "212500000000", "phone_number_id": PHONE_ID},
            "statuses": [status]}}]}]}).encode()


def _signature(body: bytes) -> str:
    return "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()


async def _post_whatsapp(url: str, body: bytes, signed: bool = True, signature: str | None = None) -> int:
    headers = {"Content-Type": "application/json"}
    if signed:
        headers["X-Hub-Signature-256"] = signature or _signature(body)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/webhooks/whatsapp", data=body, headers=headers) as response:
            return response.status


def _telegram_update(text: str) -> dict[str, Any]:
    return FakeTelegram.text_update(next(_ids), HER_CHAT, text)


async def _post_telegram(url: str, update: dict[str, Any], secret: str | None = HOOK_SECRET) -> int:
    return await FakeTelegram.post(url, update, secret)


async def _until(check: Callable[[], bool], timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def _settled(count: Callable[[], int], quiet: float = 1.5, timeout: float = 30) -> int:
    """The value of `count` once it has not changed for `quiet` seconds (her turn has ended)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last, since = count(), loop.time()
    while loop.time() - since < quiet:
        assert loop.time() < deadline, "still changing"
        await asyncio.sleep(0.1)
        if count() != last:
            last, since = count(), loop.time()
    return last


def _graph_texts(graph: FakeGraph) -> list[str]:
    out = []
    for request in graph.requests:
        if request.get("type") == "text":
            out.append(request["text"]["body"])
        elif request.get("type") == "interactive":
            out.append(request["interactive"]["body"]["text"])
    return out


async def test_whatsapp_urgent_handoff_and_a_counsellor_reply(platforms):
    url, graph = platforms.stack.url, platforms.graph
    conv = conversation("fr")
    async with ConsoleClient(url, "amina", PASSWORD) as console:
        update = _whatsapp_update(conv["danger"], "wamid.stack-danger-1")
        assert await _post_whatsapp(url, update, signed=False) == 401
        tampered = update.replace(b"couteau", b"cuillere")
        assert await _post_whatsapp(url, tampered, signature=_signature(update)) in (401, 403)
        assert await _post_whatsapp(url, update) == 200
        opened = await console.wait_for(lambda e: e["type"] == "case_opened" and e["case"]["channel"] == "whatsapp")
        assert opened["case"]["priority"] == "urgent"
        await _until(lambda: any("19" in t for t in _graph_texts(graph)))
        assert all(r["to"] == HER_NUMBER for r in graph.requests)
        sent = await _settled(lambda: len(graph.requests))

        assert await _post_whatsapp(url, update) == 200  # Meta redelivers: handled once
        await asyncio.sleep(2)
        assert len(graph.requests) == sent

        case_id = opened["case"]["id"]
        await console.claim(case_id)
        await console.write(case_id, "Je suis Amina. Êtes-vous en sécurité pour écrire ?")
        await _until(lambda: "Je suis Amina. Êtes-vous en sécurité pour écrire ?" in _graph_texts(graph))
        assert await _post_whatsapp(url, _whatsapp_update("oui, il est sorti", "wamid.stack-reply-2")) == 200
        await console.wait_for(lambda e: e["type"] == "message" and e["message"]["text"] == "oui, il est sorti")

        # Graph accepted the next one, then reports it undelivered: the counsellor sees it on the message.
        written = await console.write(case_id, "Je vous rappelle ce soir ?")
        [request] = [r for r in graph.requests if r.get("text", {}).get("body") == "Je vous rappelle ce soir ?"]
        assert request["biz_opaque_callback_data"] == f"maak-seq:{written['id']}"
        assert await _post_whatsapp(url, _whatsapp_status("failed", 131047, request["biz_opaque_callback_data"])) == 200
        shown = await console.wait_for(lambda e: e["type"] == "message" and e["message"]["id"] == written["id"]
                                       and e["message"]["delivery_error"])
        assert shown["message"]["delivery_error"] == "outside the 24-hour window"
        code, detail = await console.call("GET", f"/api/cases/{case_id}")
        assert [m["delivery_error"] for m in detail["messages"] if m["id"] == written["id"]] == [
            "outside the 24-hour window"]
        await console.close(case_id)
    log = platforms.stack.log()
    assert HER_NUMBER not in log and conv["danger"] not in log and "il est sorti" not in log


async def test_telegram_urgent_handoff_and_a_counsellor_reply(platforms):
    url, telegram = platforms.stack.url, platforms.telegram
    conv = conversation("ary_latn")
    async with ConsoleClient(url, "amina", PASSWORD) as console:
        update = _telegram_update(conv["danger"])
        assert await _post_telegram(url, update, secret=None) in (401, 403)
        assert await _post_telegram(url, update, secret="wrong") in (401, 403)
        assert await _post_telegram(url, update) == 200
        opened = await console.wait_for(lambda e: e["type"] == "case_opened" and e["case"]["channel"] == "telegram")
        assert opened["case"]["priority"] == "urgent"
        await _until(lambda: any("19" in m.get("text", "") for m in telegram.sent()))
        assert {str(m["chat_id"]) for m in telegram.sent()} == {str(HER_CHAT)}
        sent = await _settled(lambda: len(telegram.sent()))
        assert await _post_telegram(url, update) == 200  # redelivered update: handled once
        await asyncio.sleep(2)
        assert len(telegram.sent()) == sent

        case_id = opened["case"]["id"]
        await console.claim(case_id)
        await console.write(case_id, "Ana Amina, wach nti f amane daba?")
        await _until(lambda: any(m.get("text") == "Ana Amina, wach nti f amane daba?" for m in telegram.sent()))
        assert await _post_telegram(url, _telegram_update("ah, khrej")) == 200
        await console.wait_for(lambda e: e["type"] == "message" and e["message"]["text"] == "ah, khrej")
        await console.close(case_id)
    log = platforms.stack.log()
    assert str(HER_CHAT) not in log and conv["danger"] not in log and BOT_TOKEN not in log


def test_channels_not_configured_are_off_and_say_so_once(stack):
    log = stack.log()
    assert "WhatsApp is off: set WHATSAPP_VERIFY_TOKEN" in log and "Telegram is off: set TELEGRAM_BOT_TOKEN" in log
    assert requests.post(f"{stack.url}/webhooks/whatsapp", data=b"{}", timeout=5).status_code == 404
    assert requests.post(f"{stack.url}/webhooks/telegram", data=b"{}", timeout=5).status_code == 404


def test_her_number_and_chat_id_are_stored_only_encrypted(platforms):
    raw = b"".join(p.read_bytes() for p in (platforms.stack.settings.var_dir).glob("*.db*"))
    assert HER_NUMBER.encode() not in raw and str(HER_CHAT).encode() not in raw
