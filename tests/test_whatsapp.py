"""The WhatsApp channel offline: Meta's signed webhook in, a fake Graph API out, all on loopback.

Payloads follow Meta's documented webhook shapes (messages webhook reference); outbound bodies
follow the Cloud API `messages` endpoint. The fuzz tests send thousands of signed malformed
notifications: none may give a 500, and the well-formed messages among them must all arrive.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import logging
import time
from typing import Any, AsyncIterator

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from channels.base import Button, DeliveryFailed, InboundMessage, OutboundMessage
from channels.numbered_menus import RedisNumberedMenus
from channels.webhook import MAX_BODY_BYTES
from channels.whatsapp import OUTSIDE_WINDOW, WEBHOOK_PATH, WhatsAppChannel
from core.settings import WhatsAppSettings
from tests.conftest import TEST_REDIS_URL
from tests.support.fakes import FakeGraph, serve
from tools.stack import free_port

VERIFY_TOKEN = "verify-token-7f3a"
APP_SECRET = "app-secret-9c1e"
ACCESS_TOKEN = "EAAG-access-token"
PHONE_NUMBER_ID = "106540352242922"
HER = "212612345678"
OTHER = "212698765432"


def wa_settings(api_base: str = "http://127.0.0.1:9/v21.0") -> WhatsAppSettings:
    return WhatsAppSettings(
        verify_token=VERIFY_TOKEN,
        app_secret=APP_SECRET,
        access_token=ACCESS_TOKEN,
        phone_number_id=PHONE_NUMBER_ID,
        api_base=api_base,
    )


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# Documented payloads


WAMID = "wamid.HBgLMjEyNjEyMzQ1Njc4FQIAEhgUM0E0QTY1OTlBRUUwMzgxMDE0NEYA"


def text_message(body: str, wamid: str = WAMID, sender: str = HER) -> dict:
    return {"from": sender, "id": wamid, "timestamp": "1749416383", "type": "text", "text": {"body": body}}


def context() -> dict:
    return {"from": "15550783881", "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjBBRDBBQkU1OTFDMjMA"}


def button_reply(reply_id: str, title: str, wamid: str = "wamid.button-reply-1") -> dict:
    return {
        "context": context(),
        "from": HER,
        "id": wamid,
        "timestamp": "1749416400",
        "type": "interactive",
        "interactive": {"type": "button_reply", "button_reply": {"id": reply_id, "title": title}},
    }


def list_reply(row_id: str, title: str, wamid: str = "wamid.list-reply-1") -> dict:
    return {
        "context": context(),
        "from": HER,
        "id": wamid,
        "timestamp": "1749416410",
        "type": "interactive",
        "interactive": {"type": "list_reply", "list_reply": {"id": row_id, "title": title, "description": ""}},
    }


def template_button(payload: str, text: str) -> dict:
    return {
        "context": context(),
        "from": HER,
        "id": "wamid.template-button-1",
        "timestamp": "1749416420",
        "type": "button",
        "button": {"payload": payload, "text": text},
    }


def media_message(kind: str, wamid: str = "wamid.media-1") -> dict:
    content: dict[str, dict[str, Any]] = {
        "image": {"mime_type": "image/jpeg", "sha256": "aGFzaA==", "id": "1003383421387256"},
        "sticker": {"mime_type": "image/webp", "sha256": "aGFzaA==", "id": "1003383421387257", "animated": False},
        "audio": {"mime_type": "audio/ogg; codecs=opus", "sha256": "aGFzaA==", "id": "1003383421387258", "voice": True},
        "location": {"latitude": 33.5731, "longitude": -7.5898, "name": "Casa", "address": "Bd Zerktouni"},
        "reaction": {"message_id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3", "emoji": "\u2764\ufe0f"},
    }
    return {"from": HER, "id": wamid, "timestamp": "1749416430", "type": kind, kind: content[kind]}


def unsupported_message() -> dict:
    return {
        "from": HER,
        "id": "wamid.unsupported-1",
        "timestamp": "1749416440",
        "type": "unsupported",
        "errors": [
            {
                "code": 131051,
                "title": "Message type unknown",
                "message": "Message type unknown",
                "error_data": {"details": "Message type is currently not supported."},
            }
        ],
        "unsupported": {"type": "edit"},
    }


def status(state: str = "delivered", error_code: int | None = None, data: Any = None) -> dict:
    result: dict[str, Any] = {
        "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3",
        "status": state,
        "timestamp": "1749416450",
        "recipient_id": HER,
        "conversation": {"id": "6ceb9d929c0e26aa4e2a1a0a5e3a5b7a", "origin": {"type": "service"}},
        "pricing": {"billable": True, "pricing_model": "CBP", "category": "service"},
    }
    if error_code is not None:
        result["errors"] = [{"code": error_code, "title": "Re-engagement message", "message": "Re-engagement message"}]
    if data is not None:
        result["biz_opaque_callback_data"] = data
    return result


def change(messages: list | None = None, statuses: list | None = None, phone_number_id: str = PHONE_NUMBER_ID) -> dict:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
    }
    if messages is not None:
        value["contacts"] = [{"profile": {"name": "Sheena Nelson"}, "wa_id": HER}]
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    return {"value": value, "field": "messages"}


def notification(*changes: dict) -> dict:
    return {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": list(changes)}]}


# Webhook fixture


class Recorder:
    """The `on_message` and `on_undelivered` callbacks: records what the channel hands over."""

    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []
        self.undelivered: list[tuple[int, str]] = []
        self.delay = 0.0

    async def report(self, seq: int, reason: str) -> None:
        self.undelivered.append((seq, reason))

    async def __call__(self, message: InboundMessage) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.messages.append(message)


class Webhook:
    def __init__(self, client: TestClient, channel: WhatsAppChannel, recorder: Recorder) -> None:
        self.client = client
        self.channel = channel
        self.recorder = recorder

    async def post(self, payload: Any, *, secret: str | None = APP_SECRET, raw: bytes | None = None) -> int:
        """POST a notification signed with `secret` (None: unsigned); returns the status."""
        body = raw if raw is not None else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Hub-Signature-256"] = sign(body, secret)
        async with self.client.post(WEBHOOK_PATH, data=body, headers=headers) as response:
            await response.read()
            return response.status

    async def received(self, payload: Any) -> list[InboundMessage]:
        """What reaches `on_message` for one signed notification (which must be answered 200)."""
        start = len(self.recorder.messages)
        assert await self.post(payload) == 200
        await self.channel.drain()
        return self.recorder.messages[start:]


@pytest.fixture
async def webhook() -> AsyncIterator[Webhook]:
    recorder = Recorder()
    channel = WhatsAppChannel(wa_settings(), recorder, recorder.report)
    app = web.Application()
    channel.attach(app)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        await channel.start()
        yield Webhook(client, channel, recorder)
        await channel.close()


# Verification handshake


async def test_handshake_with_the_right_token_echoes_the_challenge(webhook: Webhook) -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    async with webhook.client.get(WEBHOOK_PATH, params=query) as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        assert await response.text() == "1158201444"


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong-token", "hub.challenge": "1158201444"},
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN[:-1], "hub.challenge": "1158201444"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"},
        {"hub.mode": "subscribe", "hub.challenge": "1158201444"},
        {"hub.mode": "subscribe", "hub.verify_token": "تحقق", "hub.challenge": "1"},
        {},
    ],
)
async def test_handshake_with_a_wrong_token_or_mode_is_refused(webhook: Webhook, query: dict) -> None:
    async with webhook.client.get(WEBHOOK_PATH, params=query) as response:
        assert response.status == 403
        assert "1158201444" not in await response.text()


async def test_handshake_does_not_reflect_markup(webhook: Webhook) -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "<script>x</script>"}
    async with webhook.client.get(WEBHOOK_PATH, params=query) as response:
        assert response.status == 400
        assert "<script>" not in await response.text()


# Signature


async def test_unsigned_and_badly_signed_notifications_are_refused_and_not_processed(webhook: Webhook) -> None:
    payload = notification(change([text_message("salam")]))
    body = json.dumps(payload).encode()
    assert await webhook.post(payload, secret=None) == 401
    assert await webhook.post(payload, secret="another-apps-secret") == 403
    for header in ("sha256=", "sha256=deadbeef", "sha1=" + sign(body)[7:], sign(body)[7:], sign(body + b" ")):
        async with webhook.client.post(
            WEBHOOK_PATH, data=body, headers={"X-Hub-Signature-256": header, "Content-Type": "application/json"}
        ) as response:
            assert response.status in (401, 403), header
    # Signed for one body, sent with another: the signature covers the raw bytes.
    tampered = json.dumps(notification(change([text_message("tampered")]))).encode()
    headers = {"X-Hub-Signature-256": sign(body)}
    async with webhook.client.post(WEBHOOK_PATH, data=tampered, headers=headers) as response:
        assert response.status == 403
    await webhook.channel.drain()
    assert webhook.recorder.messages == []


async def test_the_signature_is_checked_on_raw_bytes_and_accepts_uppercase_hex(webhook: Webhook) -> None:
    # Meta escapes non-ASCII as \uXXXX; re-serialising would change the bytes, so the raw body counts.
    body = b'{"entry":[{"changes":[{"field":"messages","value":{"messages":[{"from":"' + HER.encode() + (
        b'","id":"wamid.raw-1","type":"text","text":{"body":"\\u0633\\u0644\\u0627\\u0645"}}]}}]}]}'
    )
    header = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest().upper()
    async with webhook.client.post(WEBHOOK_PATH, data=body, headers={"X-Hub-Signature-256": header}) as response:
        assert response.status == 200
    await webhook.channel.drain()
    assert [m.text for m in webhook.recorder.messages] == ["سلام"]


async def test_oversized_and_non_json_bodies_are_refused_without_a_500(webhook: Webhook) -> None:
    big = b'{"entry": "' + b"x" * MAX_BODY_BYTES + b'"}'
    assert await webhook.post(None, raw=big) == 413
    assert await webhook.post(None, raw=b"\xff\xfe\x00garbage") == 400
    assert await webhook.post(None, raw=b"") == 400
    assert await webhook.post(None, raw=b"[" * 100_000 + b"]" * 100_000) == 400

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the cap holds while reading
        for _ in range(MAX_BODY_BYTES // 1024 + 2):
            yield b" " * 1024

    async with webhook.client.post(WEBHOOK_PATH, data=chunks(), headers={"X-Hub-Signature-256": sign(b"")}) as response:
        assert response.status == 413
    await webhook.channel.drain()
    assert webhook.recorder.messages == []


# Inbound payloads


async def test_a_text_message(webhook: Webhook) -> None:
    received = await webhook.received(notification(change([text_message("Salam, bghit nkhdem", WAMID)])))
    assert received == [InboundMessage(channel="whatsapp", sender=HER, text="Salam, bghit nkhdem", message_id=WAMID)]
    assert received[0].metadata == {}  # not even her profile name


async def test_interactive_replies_give_our_payloads(webhook: Webhook) -> None:
    payload = '/callback_window{"window":"evening"}'
    received = await webhook.received(
        notification(
            change(
                [
                    button_reply("/affirm", "Oui", "wamid.b1"),
                    list_reply(payload, "Le soir", "wamid.l1"),
                    template_button("/deny", "Non"),
                ]
            )
        )
    )
    assert [(m.text, m.message_id, m.unsupported) for m in received] == [
        ("/affirm", "wamid.b1", None),
        (payload, "wamid.l1", None),
        ("/deny", "wamid.template-button-1", None),
    ]
    assert all(m.sender == HER and m.channel == "whatsapp" for m in received)


@pytest.mark.parametrize("kind", ["image", "sticker", "audio", "location", "reaction"])
async def test_media_and_other_types_are_marked_unsupported(webhook: Webhook, kind: str) -> None:
    received = await webhook.received(notification(change([media_message(kind)])))
    assert received == [
        InboundMessage(channel="whatsapp", sender=HER, text="", message_id="wamid.media-1", unsupported=kind)
    ]


async def test_a_photo_with_a_caption_is_read_as_her_words(webhook: Webhook) -> None:
    photo = media_message("image")
    photo["image"]["caption"] = "chouf chno dar liya, khayfa"
    blank = media_message("image", wamid="wamid.media-2")
    blank["image"]["caption"] = "   "
    first, second = await webhook.received(notification(change([photo, blank])))
    assert (first.text, first.unsupported, dict(first.metadata)) == (
        "chouf chno dar liya, khayfa", None, {"attachment": "image"})
    assert (second.text, second.unsupported) == ("", "image")


async def test_an_unsupported_message_is_answered_politely(webhook: Webhook) -> None:
    (message,) = await webhook.received(notification(change([unsupported_message()])))
    assert (message.text, message.unsupported) == ("", "unsupported")


async def test_statuses_only_give_nothing(webhook: Webhook, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="channels.whatsapp")
    assert await webhook.received(notification(change(statuses=[status("sent"), status("read")]))) == []
    # A message refused after acceptance is logged with its code only.
    assert await webhook.received(notification(change(statuses=[status("failed", 131047)]))) == []
    failed = [r for r in caplog.records if getattr(r, "event", "") == "whatsapp_status_failed"]
    assert len(failed) == 1 and "131047" in failed[0].getMessage() and HER not in failed[0].getMessage()


async def test_a_stored_message_that_fails_later_is_reported_for_the_counsellor(webhook: Webhook) -> None:
    failures = [
        status("failed", 131047, data="maak-seq:41"),
        status("failed", 131026, data="maak-seq:42"),
        status("failed", None, data="maak-seq:43"),
        status("delivered", data="maak-seq:44"),  # delivered: nothing to report
        status("failed", 131047),  # a bot message: logged only
    ]
    bad = [status("failed", 131047, data=d) for d in (41, ["maak-seq:1"], "maak-seq:", "maak-seq:-1", "maak-seq:1x",
                                                      "other:5", "maak-seq:" + "9" * 40, {"seq": 1})]
    assert await webhook.received(notification(change([text_message("salam")], statuses=failures + bad))) != []
    assert webhook.recorder.undelivered == [
        (41, "outside the 24-hour window"), (42, "not delivered (error 131026)"), (43, "not delivered (error ?)"),
    ]


async def test_a_failure_for_another_number_is_not_ours(webhook: Webhook) -> None:
    other = change(statuses=[status("failed", 131047, data="maak-seq:41")], phone_number_id="999")
    assert await webhook.received(notification(other)) == []
    assert webhook.recorder.undelivered == []


async def test_several_messages_in_one_notification_keep_her_order(webhook: Webhook) -> None:
    webhook.recorder.delay = 0.01  # handing over takes time: order must not depend on luck
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    change([text_message("un", "wamid.1"), text_message("autre", "wamid.o1", OTHER)]),
                    change([text_message("deux", "wamid.2"), media_message("image", "wamid.3")]),
                ],
            },
            {"id": "102290129340398", "changes": [change([text_message("trois", "wamid.4")])]},
        ],
    }
    received = await webhook.received(payload)
    assert [m.message_id for m in received if m.sender == HER] == ["wamid.1", "wamid.2", "wamid.3", "wamid.4"]
    assert [m.text for m in received if m.sender == OTHER] == ["autre"]


async def test_a_redelivered_notification_is_passed_through_for_the_router_to_dedupe(webhook: Webhook) -> None:
    payload = notification(change([text_message("salam", "wamid.same")]))
    first = await webhook.received(payload)
    second = await webhook.received(payload)
    assert first == second and first[0].message_id == "wamid.same"


async def test_messages_for_another_phone_number_or_field_are_ignored(webhook: Webhook) -> None:
    other_number = change([text_message("not for us")], phone_number_id="999999999")
    other_field = {"field": "message_template_status_update", "value": {"event": "APPROVED"}}
    system = {
        "from": HER,
        "id": "wamid.sys",
        "type": "system",
        "system": {"body": "changed number", "type": "user_changed_number"},
    }
    ok = change([system, text_message("ok", "wamid.ok")])
    received = await webhook.received(notification(other_number, other_field, ok))
    assert [m.message_id for m in received] == ["wamid.ok"]


async def test_nothing_personal_is_logged(webhook: Webhook, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret_text = "il me frappe tous les soirs"
    await webhook.received(notification(change([text_message(secret_text)], statuses=[status("failed", 131047)])))
    await webhook.post(notification(change([text_message(secret_text)])), secret="wrong")
    await webhook.post(None, raw=secret_text.encode())
    for record in caplog.records:
        line = record.getMessage() + " " + json.dumps({k: str(v) for k, v in vars(record).items()})
        assert HER not in line and secret_text not in line and ACCESS_TOKEN not in line


async def test_close_waits_for_messages_being_handled() -> None:
    recorder = Recorder()
    recorder.delay = 0.3
    channel = WhatsAppChannel(wa_settings(), recorder)
    app = web.Application()
    channel.attach(app)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        await channel.start()
        body = json.dumps(notification(change([text_message("salam")]))).encode()
        started = time.monotonic()
        async with client.post(WEBHOOK_PATH, data=body, headers={"X-Hub-Signature-256": sign(body)}) as response:
            assert response.status == 200
        assert time.monotonic() - started < 0.25, "the webhook must answer before the message is handled"
        await channel.close()
        assert len(recorder.messages) == 1
        # Once closing, Meta is asked to come back later rather than losing a message.
        async with client.post(WEBHOOK_PATH, data=body, headers={"X-Hub-Signature-256": sign(body)}) as response:
            assert response.status == 503


# Outbound


@pytest.fixture
async def graph() -> AsyncIterator[tuple[FakeGraph, WhatsAppChannel]]:
    fake = FakeGraph(ACCESS_TOKEN, PHONE_NUMBER_ID)
    async for url in serve(fake.app()):
        fake.url = url
        channel = WhatsAppChannel(wa_settings(fake.api_base), Recorder())
        channel.backoff_seconds = 0.05
        await channel.start()
        try:
            yield fake, channel
        finally:
            await channel.close()


def buttons(n: int, title: str = "Choix {i}") -> tuple[Button, ...]:
    return tuple(Button(title=title.format(i=i), payload=f"/choose{{\"option\":{i}}}") for i in range(1, n + 1))


async def test_text_is_sent_as_documented(graph: tuple[FakeGraph, WhatsAppChannel]) -> None:
    fake, channel = graph
    await channel.send(HER, OutboundMessage(text="Bonjour, je suis là."))
    assert fake.requests == [
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": HER,
            "type": "text",
            "text": {"body": "Bonjour, je suis là.", "preview_url": False},
        }
    ]


async def test_a_counsellor_message_carries_its_seq_for_the_status_webhook(
    graph: tuple[FakeGraph, WhatsAppChannel]
) -> None:
    fake, channel = graph
    await channel.send(HER, OutboundMessage(text="Je suis là. " * 500, seq=42))  # two pieces
    assert len(fake.requests) == 2
    assert all(r["biz_opaque_callback_data"] == "maak-seq:42" for r in fake.requests)


async def test_three_buttons_are_reply_buttons(graph: tuple[FakeGraph, WhatsAppChannel]) -> None:
    fake, channel = graph
    evening = '/callback_window{"window":"evening"}'
    choices = (Button("Oui", "/affirm"), Button("Non", "/deny"), Button("Le soir", evening))
    await channel.send(HER, OutboundMessage(text="On vous rappelle ?", buttons=choices))
    (request,) = fake.requests
    assert request["type"] == "interactive" and request["to"] == HER
    assert request["interactive"] == {
        "type": "button",
        "body": {"text": "On vous rappelle ?"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "/affirm", "title": "Oui"}},
                {"type": "reply", "reply": {"id": "/deny", "title": "Non"}},
                {"type": "reply", "reply": {"id": '/callback_window{"window":"evening"}', "title": "Le soir"}},
            ]
        },
    }


async def test_seven_buttons_are_a_list_labelled_in_her_script(graph: tuple[FakeGraph, WhatsAppChannel]) -> None:
    fake, channel = graph
    await channel.send(HER, OutboundMessage(text="Quel type d'aide ?", buttons=buttons(7)))
    await channel.send(HER, OutboundMessage(text="شنو بغيتي؟", buttons=buttons(7)))
    latin, arabic = (r["interactive"] for r in fake.requests)
    assert latin["type"] == "list" and latin["body"] == {"text": "Quel type d'aide ?"}
    assert latin["action"]["button"] == "Menu" and arabic["action"]["button"] == "القائمة"
    (section,) = latin["action"]["sections"]
    assert section["rows"] == [{"id": b.payload, "title": b.title} for b in buttons(7)]


async def test_titles_too_long_for_buttons_make_a_list(graph: tuple[FakeGraph, WhatsAppChannel]) -> None:
    fake, channel = graph
    choices = (Button("Je cherche un travail", "/job"), Button("Autre", "/other"))  # 21 characters
    await channel.send(HER, OutboundMessage(text="Dites-moi", buttons=choices))
    assert fake.requests[0]["interactive"]["type"] == "list"


@pytest.mark.parametrize(
    "choices",
    [
        buttons(12),
        buttons(4, "Un intitulé beaucoup trop long {i}"),
        (Button("Oui", "/affirm"), Button("Oui", "/affirm_again")),  # duplicate titles are refused by WhatsApp
        (Button("Oui", "/" + "x" * 300),),  # a payload longer than any reply id
    ],
)
async def test_choices_whatsapp_cannot_show_become_numbered_text(
    graph: tuple[FakeGraph, WhatsAppChannel], choices: tuple[Button, ...]
) -> None:
    fake, channel = graph
    await channel.send(HER, OutboundMessage(text="Choisissez :", buttons=choices))
    (request,) = fake.requests
    assert request["type"] == "text"
    lines = request["text"]["body"].split("\n")
    assert lines[0] == "Choisissez :" and lines[1] == ""
    assert lines[2:] == [f"{i}. {b.title}" for i, b in enumerate(choices, 1)]


async def test_a_title_too_long_for_a_row_is_shortened_and_given_whole_below(
    graph: tuple[FakeGraph, WhatsAppChannel]
) -> None:
    fake, channel = graph
    choices = (Button("Ne m'écrivez pas en premier", "/callback_window{\"window\":\"none\"}"), *buttons(3))
    await channel.send(HER, OutboundMessage(text="Quand ?", buttons=choices))
    rows = fake.requests[0]["interactive"]["action"]["sections"][0]["rows"]
    assert rows[0]["title"] == "Ne m'écrivez pas en pre…" and len(rows[0]["title"]) == 24
    assert rows[0]["description"] == "Ne m'écrivez pas en premier"
    assert "description" not in rows[1]


async def test_an_answer_by_number_to_a_numbered_menu_is_that_choice() -> None:
    fake, recorder = FakeGraph(ACCESS_TOKEN, PHONE_NUMBER_ID), Recorder()
    async for url in serve(fake.app()):
        fake.url = url
        channel = WhatsAppChannel(wa_settings(fake.api_base), recorder)
        app = web.Application()
        channel.attach(app)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            await channel.start()
            hook = Webhook(client, channel, recorder)
            menu = buttons(12)
            await channel.send(HER, OutboundMessage(text="Choisissez :", buttons=menu))
            (chosen,) = await hook.received(notification(change([text_message("2", "wamid.n1")])))
            assert chosen.text == menu[1].payload
            (beyond,) = await hook.received(notification(change([text_message("13", "wamid.n2")])))
            assert beyond.text == "13"
            await channel.send(HER, OutboundMessage(text="Merci."))  # the menu is no longer on screen
            (later,) = await hook.received(notification(change([text_message("2", "wamid.n3")])))
            assert later.text == "2"
            await channel.close()


async def test_with_replicas_an_answer_by_number_is_understood_by_any_gateway() -> None:
    fake, prefix = FakeGraph(ACCESS_TOKEN, PHONE_NUMBER_ID), f"maak:test-wa-menu:{time.time_ns()}:"
    async for url in serve(fake.app()):
        fake.url = url
        recorder = Recorder()
        # The menu goes out through one gateway, her answer comes in through the other.
        redis = aioredis.from_url(TEST_REDIS_URL)
        sender, receiver = (WhatsAppChannel(wa_settings(fake.api_base), handler,
                                            numbered_menus=RedisNumberedMenus(redis, prefix, b"k"))
                            for handler in (Recorder(), recorder))
        app = web.Application()
        receiver.attach(app)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            await sender.start()
            await receiver.start()
            hook = Webhook(client, receiver, recorder)
            menu = buttons(12)
            await sender.send(HER, OutboundMessage(text="Choisissez :", buttons=menu))
            [key] = [k.decode() for k in await redis.keys(prefix + "*")]
            assert HER not in key and 0 < await redis.ttl(key) <= 24 * 3600
            (chosen,) = await hook.received(notification(change([text_message("٣", "wamid.r1")])))
            assert chosen.text == menu[2].payload  # Arabic-Indic digits too
            await sender.send(HER, OutboundMessage(text="Merci."))
            (later,) = await hook.received(notification(change([text_message("2", "wamid.r2")])))
            assert later.text == "2" and await redis.keys(prefix + "*") == []
            await sender.close()
            await receiver.close()
        await redis.aclose()


async def test_with_redis_unreachable_a_menu_still_goes_and_a_number_is_read_as_text(caplog) -> None:
    fake, recorder = FakeGraph(ACCESS_TOKEN, PHONE_NUMBER_ID), Recorder()
    async for url in serve(fake.app()):
        fake.url = url
        channel = WhatsAppChannel(wa_settings(fake.api_base), recorder,
                                  numbered_menus=RedisNumberedMenus(aioredis.from_url("redis://127.0.0.1:1/0"),
                                                                   "maak:test:", b"k"))
        app = web.Application()
        channel.attach(app)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            await channel.start()
            with caplog.at_level(logging.WARNING):
                await channel.send(HER, OutboundMessage(text="Choisissez :", buttons=buttons(12)))
                (answer,) = await Webhook(client, channel, recorder).received(
                    notification(change([text_message("2", "wamid.u1")])))
            assert len(fake.requests) == 1 and answer.text == "2"
            events = {getattr(r, "event", "") for r in caplog.records}
            assert {"whatsapp_menu_not_kept", "whatsapp_menu_unavailable"} <= events
            await channel.close()


async def test_long_text_is_split_at_word_boundaries(graph: tuple[FakeGraph, WhatsAppChannel]) -> None:
    fake, channel = graph
    text = " ".join(f"mot{i}" for i in range(2500))  # about 16,000 characters
    await channel.send(HER, OutboundMessage(text=text))
    bodies = [r["text"]["body"] for r in fake.requests]
    assert len(bodies) >= 4 and all(0 < len(b) <= 4096 for b in bodies)
    assert " ".join(bodies) == text
    unbroken = "ع" * 9000  # no space to cut at: cut hard
    await channel.send(HER, OutboundMessage(text=unbroken))
    assert "".join(r["text"]["body"] for r in fake.requests[len(bodies) :]) == unbroken


async def test_long_text_with_buttons_keeps_the_buttons_on_its_end(graph: tuple[FakeGraph, WhatsAppChannel]) -> None:
    fake, channel = graph
    text = " ".join(f"phrase{i}" for i in range(400))  # about 3,600 characters
    await channel.send(HER, OutboundMessage(text=text, buttons=buttons(2)))
    *leading, last = fake.requests
    assert [r["type"] for r in leading] == ["text"] * len(leading) and leading
    body = last["interactive"]["body"]["text"]
    assert last["interactive"]["type"] == "button" and len(body) <= 1024
    assert " ".join([*(r["text"]["body"] for r in leading), body]) == text


async def test_quick_exit_sends_nothing(graph: tuple[FakeGraph, WhatsAppChannel]) -> None:
    fake, channel = graph
    await channel.send(HER, OutboundMessage(custom={"maak": "quick_exit"}))
    assert fake.requests == []


async def test_rate_limits_are_retried_with_backoff(graph: tuple[FakeGraph, WhatsAppChannel]) -> None:
    fake, channel = graph
    fake.rate_limit()
    fake.rate_limit()
    await channel.send(HER, OutboundMessage(text="salam"))
    assert len(fake.requests) == 3
    first, second = fake.times[1] - fake.times[0], fake.times[2] - fake.times[1]
    assert first >= 0.05 and second >= 0.1  # exponential


async def test_retry_after_is_honoured(graph: tuple[FakeGraph, WhatsAppChannel]) -> None:
    fake, channel = graph
    fake.rate_limit(retry_after="1")
    await channel.send(HER, OutboundMessage(text="salam"))
    assert len(fake.requests) == 2 and fake.times[1] - fake.times[0] >= 0.95


async def test_a_retry_after_beyond_the_budget_fails_at_once(graph: tuple[FakeGraph, WhatsAppChannel]) -> None:
    fake, channel = graph
    fake.rate_limit(retry_after="120")
    started = time.monotonic()
    with pytest.raises(DeliveryFailed, match="rate limited"):
        await channel.send(HER, OutboundMessage(text="salam"))
    assert time.monotonic() - started < 2 and len(fake.requests) == 1


async def test_server_errors_are_retried_then_succeed(graph: tuple[FakeGraph, WhatsAppChannel]) -> None:
    fake, channel = graph
    fake.server_error(500)
    fake.server_error(503)
    await channel.send(HER, OutboundMessage(text="salam"))
    assert len(fake.requests) == 3


async def test_server_errors_that_last_fail_after_three_attempts(graph: tuple[FakeGraph, WhatsAppChannel]) -> None:
    fake, channel = graph
    for _ in range(5):
        fake.server_error(500)
    with pytest.raises(DeliveryFailed) as failure:
        await channel.send(HER, OutboundMessage(text="salam"))
    assert str(failure.value) == "server error (HTTP 500, error 131000)"
    assert len(fake.requests) == 3


async def test_outside_the_24_hour_window(graph: tuple[FakeGraph, WhatsAppChannel]) -> None:
    fake, channel = graph
    fake.outside_window()
    with pytest.raises(DeliveryFailed) as failure:
        await channel.send(HER, OutboundMessage(text="La conseillère vous a répondu."))
    assert str(failure.value) == OUTSIDE_WINDOW == "outside the 24-hour window"
    assert len(fake.requests) == 1  # not retried: only her next message reopens the window
    assert channel.service_window is not None and channel.service_window.total_seconds() == 24 * 3600


async def test_a_refused_request_fails_without_retry(graph: tuple[FakeGraph, WhatsAppChannel]) -> None:
    fake, channel = graph
    fake.fail_next(400, FakeGraph.error(100, f"(#100) Invalid parameter for {HER}"))
    with pytest.raises(DeliveryFailed) as failure:
        await channel.send(HER, OutboundMessage(text="salam"))
    assert str(failure.value) == "refused (HTTP 400, error 100)"
    assert HER not in str(failure.value) and len(fake.requests) == 1


async def test_a_wrong_access_token_is_refused(graph: tuple[FakeGraph, WhatsAppChannel]) -> None:
    fake, _ = graph
    channel = WhatsAppChannel(
        WhatsAppSettings(VERIFY_TOKEN, APP_SECRET, "expired", PHONE_NUMBER_ID, fake.api_base), Recorder()
    )
    await channel.start()
    try:
        with pytest.raises(DeliveryFailed, match=r"refused \(HTTP 401, error 190\)"):
            await channel.send(HER, OutboundMessage(text="salam"))
    finally:
        await channel.close()


async def test_an_unreachable_graph_fails_within_the_budget() -> None:
    channel = WhatsAppChannel(wa_settings(f"http://127.0.0.1:{free_port()}/v21.0"), Recorder())
    channel.backoff_seconds = 0.05
    with pytest.raises(DeliveryFailed, match="not started"):
        await channel.send(HER, OutboundMessage(text="salam"))
    await channel.start()
    started = time.monotonic()
    try:
        with pytest.raises(DeliveryFailed, match="unreachable"):
            await channel.send(HER, OutboundMessage(text="salam"))
    finally:
        await channel.close()
    assert time.monotonic() - started < channel.budget_seconds


# Fuzzing: signed, malformed notifications

KEYS = [
    "object", "entry", "id", "changes", "field", "value", "messaging_product", "metadata", "phone_number_id",
    "contacts", "wa_id", "profile", "messages", "statuses", "errors", "from", "type", "text", "body",
    "interactive", "button_reply", "list_reply", "button", "payload", "title", "image", "unsupported",
]  # fmt: skip

small_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["text", "interactive", "button", "button_reply", "list_reply", "messages", PHONE_NUMBER_ID, HER])
)
# Huge strings, built rather than generated character by character.
huge_strings = st.builds(
    lambda n, c: c * n, st.integers(1_000, 60_000), st.sampled_from(["x", "ع", "\u202e", "\x00", "😀"])
)


def trees(leaf: st.SearchStrategy) -> st.SearchStrategy:
    keys = st.sampled_from(KEYS) | st.text(max_size=8)
    return st.recursive(leaf, lambda c: st.lists(c, max_size=4) | st.dictionaries(keys, c, max_size=4), max_leaves=20)


json_values = trees(small_leaves | huge_strings)
# For batches that must stay under the size cap, so the well-formed message can be checked.
small_json_values = trees(small_leaves)


def paths(tree: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into a JSON tree, so a mutation can hit any level."""
    found = [prefix]
    if isinstance(tree, dict):
        for key, value in tree.items():
            found += paths(value, prefix + (key,))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            found += paths(value, prefix + (index,))
    return found


def well_formed() -> dict:
    return notification(
        change(
            [
                text_message("salam", "wamid.garbage-text"),
                button_reply("/affirm", "Oui", "wamid.garbage-button"),
                list_reply("/deny", "Non", "wamid.garbage-list"),
                media_message("image", "wamid.garbage-image"),
            ],
            statuses=[status("failed", 131047)],
        )
    )


@st.composite
def mutated(draw: st.DrawFn, base: Any = None, values: st.SearchStrategy = json_values) -> Any:
    """A documented notification with wrong types, missing keys or junk at one or more levels."""
    tree = copy.deepcopy(well_formed() if base is None else base)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths(tree)))
        if not path:
            return draw(values)
        parent = tree
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "delete", "wrap"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "wrap":
            parent[path[-1]] = [parent[path[-1]]]
        else:
            parent[path[-1]] = draw(values)
    return tree


WELL_FORMED = json.dumps(well_formed()).encode()


def nested(depth: int, opener: str, closer: str, inner: str = "1") -> str:
    return opener * depth + inner + closer * depth


bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    mutated().map(lambda v: json.dumps(v).encode()),
    mutated().map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")),
    st.binary(max_size=512),
    st.integers(1, 200_000).map(lambda n: nested(n, "[", "]").encode()),
    st.integers(1, 50_000).map(
        lambda n: ('{"entry":[{"changes":[{"value":' + nested(n, '{"messages":', "}") + "}]}]}").encode()
    ),
    # Truncated, or with trailing junk.
    st.integers(0, len(WELL_FORMED)).map(lambda n: WELL_FORMED[:n]),
    st.binary(min_size=1, max_size=64).map(lambda junk: WELL_FORMED + junk),
    st.builds(
        lambda prefix, tail: prefix + tail,
        st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"\x00\x00\xfe\xff", b""]),
        mutated().map(lambda v: json.dumps(v).encode()),
    ),
)


class ErrorLog(logging.Handler):
    """Records errors of the channel: the fuzzer's safety nets must never have been needed."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def channel_errors() -> Any:
    handler = ErrorLog()
    channel_logger = logging.getLogger("channels.whatsapp")
    channel_logger.addHandler(handler)
    yield handler.records
    channel_logger.removeHandler(handler)


def assert_well_typed(messages: list[InboundMessage]) -> None:
    for message in messages:
        assert message.channel == "whatsapp" and isinstance(message.sender, str) and message.sender
        assert isinstance(message.text, str)
        assert message.message_id is None or isinstance(message.message_id, str)
        assert message.unsupported is None or isinstance(message.unsupported, str)
        assert dict(message.metadata) == {}


FUZZ = settings(
    max_examples=1_000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(body=bodies)
async def test_fuzz_signed_malformed_notifications_never_crash(
    webhook: Webhook, channel_errors: list, body: bytes
) -> None:
    channel_errors.clear()
    start = len(webhook.recorder.messages)
    status_code = await webhook.post(None, raw=body)
    assert status_code in (200, 400, 413), status_code
    await webhook.channel.drain()
    handed_over = webhook.recorder.messages[start:]
    event(f"HTTP {status_code}, {'some' if handed_over else 'no'} message handed over")
    assert_well_typed(handed_over)
    assert channel_errors == []


junk = text_message("junk", "wamid.junk")
garbage_messages = st.lists(small_json_values | mutated(junk, small_json_values), max_size=3)
garbage_changes = st.lists(small_json_values | mutated(change([junk]), small_json_values), max_size=3)
garbage_entries = st.lists(small_json_values | mutated(None, small_json_values), max_size=3)


@settings(FUZZ, max_examples=300)
@given(
    before=garbage_messages,
    after=garbage_messages,
    changes_before=garbage_changes,
    changes_after=garbage_changes,
    entries_before=garbage_entries,
    entries_after=garbage_entries,
    text=st.text(min_size=1, max_size=200),
)
async def test_fuzz_well_formed_messages_among_garbage_all_arrive(
    webhook: Webhook,
    channel_errors: list,
    before: list,
    after: list,
    changes_before: list,
    changes_after: list,
    entries_before: list,
    entries_after: list,
    text: str,
) -> None:
    webhook.recorder.messages.clear()
    channel_errors.clear()
    good = change([*before, text_message(text, "wamid.good-1"), *after])
    alone = change([text_message("deuxième", "wamid.good-2")])
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            *entries_before,
            {"id": "102290129340398", "changes": [*changes_before, good, *changes_after]},
            *entries_after,
            {"id": "102290129340398", "changes": [alone]},
        ],
    }
    assert await webhook.post(payload) == 200
    await webhook.channel.drain()
    assert_well_typed(webhook.recorder.messages)
    good_ones = [m for m in webhook.recorder.messages if m.message_id in ("wamid.good-1", "wamid.good-2")]
    assert good_ones == [
        InboundMessage(channel="whatsapp", sender=HER, text=text, message_id="wamid.good-1"),
        InboundMessage(channel="whatsapp", sender=HER, text="deuxième", message_id="wamid.good-2"),
    ]
    assert channel_errors == []
