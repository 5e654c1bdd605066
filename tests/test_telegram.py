"""The Telegram channel against a fake Bot API on loopback: webhook in, Bot API calls out, the CLI.

Updates are the shapes the Bot API documents; outbound calls are python-telegram-bot's real
requests, answered (or refused) by `FakeTelegram`. Ends with a fuzz of the webhook.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import aiohttp
import pytest
import redis.asyncio as aioredis
import requests
from aiohttp import web
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from channels.base import Button, DeliveryFailed, InboundMessage, OutboundMessage
from channels.chat_messages import ChatMessages, MemoryChatMessages, RedisChatMessages
from channels.telegram import (
    CallbackPayloads,
    TelegramChannel,
    split_text,
    webhook_url_problem,
)
from channels.webhook import MAX_BODY_BYTES as MAX_UPDATE_BYTES
from core.settings import PROJECT_ROOT, TelegramSettings
from tests.conftest import TEST_REDIS_URL
from tests.support.fakes import FakeTelegram, serve

TOKEN = "123456:TEST-token_for-maak"
SECRET = "s3cret-Token_for_the-webhook"
HER = 987654321  # her chat id: must never appear in a log
QUICK_EXIT = OutboundMessage(custom={"maak": "quick_exit"})


def telegram_settings(api_base: str) -> TelegramSettings:
    return TelegramSettings(bot_token=TOKEN, webhook_secret=SECRET, api_base=api_base, oncall_chat_ids=())


# Updates as the Bot API documents them


def _user(user_id: int = HER) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "Salma", "language_code": "fr"}


def _chat(chat_id: int = HER, kind: str = "private") -> dict[str, Any]:
    if kind == "private":
        return {"id": chat_id, "first_name": "Salma", "type": "private"}
    return {"id": chat_id, "title": "Famille", "type": kind}


def message_update(update_id: int, chat_id: int = HER, kind: str = "private", key: str = "message", **fields: Any):
    message = {"message_id": 40 + update_id % 1000, "date": 1_700_000_000, "chat": _chat(chat_id, kind), **fields}
    if kind != "channel":
        message["from"] = _user(chat_id if chat_id > 0 else HER)
    return {"update_id": update_id, key: message}


def text_update(update_id: int, text: str, chat_id: int = HER, kind: str = "private") -> dict[str, Any]:
    fields: dict[str, Any] = {"text": text}
    if text.startswith("/"):
        fields["entities"] = [{"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}]
    return message_update(update_id, chat_id, kind, **fields)


def callback_update(
    update_id: int, data: str, chat_id: int = HER, kind: str = "private", keyboard: Any = None
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": 7,
        "from": {"id": 1, "is_bot": True, "first_name": "Maak", "username": "maak_bot"},
        "chat": _chat(chat_id, kind),
        "date": 1_700_000_000,
        "text": "Chnou bghiti?",
    }
    if keyboard is not None:
        message["reply_markup"] = keyboard
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"4382bfdwdsb323b2d9-{update_id}",
            "from": _user(),
            "message": message,
            "chat_instance": "-1234567890",
            "data": data,
        },
    }


ATTACHMENTS = {
    "photo": {"photo": [{"file_id": "AgAD", "file_unique_id": "AQAD", "width": 90, "height": 67, "file_size": 1234}]},
    "sticker": {
        "sticker": {"file_id": "CAAC", "file_unique_id": "AgAD", "type": "regular", "width": 512, "height": 512,
                    "is_animated": False, "is_video": False}
    },
    "voice": {"voice": {"file_id": "AwAD", "file_unique_id": "AgAE", "duration": 3, "mime_type": "audio/ogg"}},
    "document": {
        "document": {"file_id": "BQAD", "file_unique_id": "AgAF", "file_name": "cv.pdf", "mime_type": "application/pdf"}
    },
    "location": {"location": {"latitude": 33.5731, "longitude": -7.5898}},
    "venue": {"venue": {"location": {"latitude": 33.57, "longitude": -7.58}, "title": "Café", "address": "Bd Zerktouni"},
              "location": {"latitude": 33.57, "longitude": -7.58}},
    "video_note": {"video_note": {"file_id": "DQAD", "file_unique_id": "AgAG", "length": 240, "duration": 5}},
}  # fmt: skip


# The channel on a real aiohttp server, its Bot on the fake


@dataclass
class Harness:
    url: str
    channel: TelegramChannel
    fake: FakeTelegram
    http: aiohttp.ClientSession
    received: list[InboundMessage] = field(default_factory=list)

    async def post(self, update: Any = None, secret: str | None = SECRET, body: bytes | None = None) -> int:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        data = body if body is not None else json.dumps(update).encode()
        async with self.http.post(f"{self.url}/webhooks/telegram", data=data, headers=headers) as response:
            return response.status

    async def settled(self) -> None:
        """Every message handed on and every callback answer done (the channel's own tasks)."""
        for _ in range(500):
            if not self.channel._hand_over.pending:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("channel tasks still pending")

    def sent_texts(self, chat_id: int = HER) -> list[str]:
        return [p["text"] for p in self.fake.sent() if p["chat_id"] == str(chat_id)]


@asynccontextmanager
async def running(
    fake: FakeTelegram, on_message: Callable[..., Any] | None = None, chat_messages: ChatMessages | None = None,
) -> AsyncIterator[Harness]:
    received: list[InboundMessage] = []

    async def collect(message: InboundMessage) -> None:
        received.append(message)

    channel = TelegramChannel(telegram_settings(fake.base_url), on_message or collect, chat_messages)
    channel.backoff = (0.01, 0.02, 0.04)
    app = web.Application()
    channel.attach(app)
    await channel.start()
    try:
        async for url in serve(app):
            async with aiohttp.ClientSession() as http:
                yield Harness(url, channel, fake, http, received)
    finally:
        await channel.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    telegram = FakeTelegram(TOKEN)
    async for url in serve(telegram.app()):
        telegram.url = url
        yield telegram


@pytest.fixture
async def tg(fake: FakeTelegram) -> AsyncIterator[Harness]:
    async with running(fake) as harness:
        yield harness


# The webhook: who may call it


async def test_a_missing_or_wrong_secret_is_refused_and_nothing_is_processed(tg: Harness):
    assert await tg.post(text_update(1, "salam"), secret=None) == 401
    for wrong in ("wrong", SECRET.upper(), SECRET[:-1], SECRET + "x", ""):
        assert await tg.post(text_update(2, "salam"), secret=wrong) == 403
    assert await tg.post(callback_update(3, "/job"), secret="wrong") == 403
    assert await tg.post(body=b"not json at all", secret=None) == 401
    await asyncio.sleep(0.2)
    await tg.settled()
    assert tg.received == [] and tg.fake.calls == [] and tg.fake.refused == []


# The webhook: what she sends


async def test_a_text_message_is_her_message(tg: Harness):
    assert await tg.post(text_update(1001, "salam, bghit nkhdem f casa")) == 200
    await tg.settled()
    assert tg.received == [InboundMessage("telegram", str(HER), "salam, bghit nkhdem f casa", message_id="1001")]


@pytest.mark.parametrize(
    ("typed", "text"),
    [
        ("/start", "/greet"),
        ("/start campaign-42", "/greet"),
        ("/start@maak_bot", "/greet"),
        ("/stop", "/stop"),
        ("/stop@maak_bot", "/stop"),
        ("/forget", "/forget"),
        ("/startle", "/startle"),
    ],
)
async def test_commands(tg: Harness, typed: str, text: str):
    assert await tg.post(text_update(5, typed)) == 200
    await tg.settled()
    assert [m.text for m in tg.received] == [text]


async def test_a_button_press_is_answered_and_becomes_her_message(tg: Harness):
    assert await tg.post(callback_update(77, "/seek_job")) == 200
    await tg.settled()
    assert tg.received == [InboundMessage("telegram", str(HER), "/seek_job", message_id="77")]
    assert [p["callback_query_id"] for p in tg.fake.sent("answerCallbackQuery")] == ["4382bfdwdsb323b2d9-77"]


async def test_a_failed_callback_answer_changes_nothing(tg: Harness):
    tg.fake.fail("answerCallbackQuery", 400, "Bad Request: query is too old and response timeout expired")
    assert await tg.post(callback_update(78, "/seek_job")) == 200
    await tg.settled()
    assert [m.text for m in tg.received] == ["/seek_job"]


@pytest.mark.parametrize("kind", sorted(ATTACHMENTS))
async def test_attachments_are_unsupported_with_their_kind(tg: Harness, kind: str):
    assert await tg.post(message_update(9, **ATTACHMENTS[kind])) == 200
    await tg.settled()
    assert tg.received == [InboundMessage("telegram", str(HER), "", message_id="9", unsupported=kind)]


async def test_a_caption_is_answered_as_her_words(tg: Harness):
    assert await tg.post(message_update(10, caption="rajli drebni", **ATTACHMENTS["photo"])) == 200
    await tg.settled()
    assert [(m.text, m.unsupported, dict(m.metadata)) for m in tg.received] == [
        ("rajli drebni", None, {"attachment": "photo"})
    ]


async def test_edits_groups_channels_and_service_messages_are_ignored(tg: Harness):
    ignored = [
        message_update(20, key="edited_message", text="salam (edited)", edit_date=1_700_000_100),
        text_update(21, "salam", chat_id=-4001, kind="group"),
        text_update(22, "/start", chat_id=-1004001, kind="supergroup"),
        message_update(23, chat_id=-1005001, kind="channel", key="channel_post", text="news"),
        callback_update(24, "/seek_job", chat_id=-4001, kind="group"),
        message_update(25, pinned_message={"message_id": 1, "date": 0, "chat": _chat()}),
        {"update_id": 26, "my_chat_member": {"chat": _chat(), "from": _user(), "date": 1_700_000_000,
                                             "old_chat_member": {"status": "member", "user": _user(1)},
                                             "new_chat_member": {"status": "kicked", "user": _user(1), "until_date": 0}}},
    ]  # fmt: skip
    for update in ignored:
        assert await tg.post(update) == 200
    await tg.settled()
    assert tg.received == []


async def test_bodies_that_are_not_updates_get_a_4xx_or_200_never_a_500(tg: Harness):
    assert await tg.post(body=b"{not json") == 400
    assert await tg.post(body=b"\xff\xfe\x00") == 400
    assert await tg.post(body=b"[1, 2, 3]") == 400
    assert await tg.post(body=b"[" * 50_000 + b"]" * 50_000) == 400
    assert await tg.post({"update_id": "one", "message": {"text": "x"}}) == 200
    assert await tg.post({"update_id": 1, "message": {"message_id": 1, "chat": {"id": "x"}, "date": "today"}}) == 200
    assert await tg.post({"update_id": 2, "message": {"message_id": 1, "date": 0, "chat": _chat(), "text": 42}}) == 200
    assert await tg.post(body=b" " * (MAX_UPDATE_BYTES + 1)) == 413
    await tg.settled()
    assert tg.received == []
    assert await tg.post(text_update(3, "still here")) == 200
    await tg.settled()
    assert [m.text for m in tg.received] == ["still here"]


async def test_close_finishes_the_messages_already_accepted(fake: FakeTelegram):
    handled: list[str] = []

    async def slow(message: InboundMessage) -> None:
        await asyncio.sleep(0.3)
        handled.append(message.text)

    async with running(fake, slow) as harness:
        assert await harness.post(text_update(1, "salam")) == 200
        assert handled == []
    assert handled == ["salam"]


async def test_past_the_pending_bound_telegram_is_asked_to_come_back(fake: FakeTelegram, monkeypatch):
    monkeypatch.setattr("channels.webhook.MAX_PENDING", 2)
    release = asyncio.Event()
    handled: list[str] = []

    async def stuck(message: InboundMessage) -> None:
        await release.wait()
        handled.append(message.text)

    async with running(fake, stuck) as harness:
        assert [await harness.post(text_update(i, f"m{i}")) for i in (1, 2, 3)] == [200, 200, 503]
        release.set()
        await harness.settled()
        assert await harness.post(text_update(3, "m3")) == 200  # Telegram's retry of the same update
        await harness.settled()
    assert handled == ["m1", "m2", "m3"]


# Outbound


async def test_a_reply_is_a_plain_message_without_link_preview(tg: Harness):
    await tg.channel.send(str(HER), OutboundMessage(text="Salam, ana m3ak. <b>https://example.org</b>"))
    [call] = tg.fake.sent()
    assert call["chat_id"] == str(HER) and call["text"] == "Salam, ana m3ak. <b>https://example.org</b>"
    assert "reply_markup" not in call and "parse_mode" not in call
    assert json.loads(call["link_preview_options"]) == {"is_disabled": True}


async def test_buttons_are_an_inline_keyboard_one_per_row(tg: Harness):
    buttons = [Button("Nkhdem", "/seek_job"), Button("Formation", "/seek_training"), Button("Khatar", "/danger")]
    await tg.channel.send(str(HER), OutboundMessage(text="Chnou bghiti?", buttons=buttons))
    [call] = tg.fake.sent()
    assert json.loads(call["reply_markup"]) == {
        "inline_keyboard": [[{"text": b.title, "callback_data": b.payload}] for b in buttons]
    }


async def test_payloads_over_64_bytes_travel_as_a_key_and_come_back(tg: Harness):
    long_payload = '/inform{"region": "Casablanca-Settat", "category": "formation", "detail": "couture"}'
    arabic = "/inform{\"city\": \"الدار البيضاء سطات\", \"need\": \"خدمة\"}"  # 53 characters, 77 bytes
    assert len(long_payload.encode()) > 64 and len(arabic.encode()) > 64
    buttons = [Button("Couture", long_payload), Button("كازا", arabic), Button("Non", "/deny")]
    await tg.channel.send(str(HER), OutboundMessage(text="Wach hadchi?", buttons=buttons))
    keyboard = json.loads(tg.fake.sent()[0]["reply_markup"])
    data = [row[0]["callback_data"] for row in keyboard["inline_keyboard"]]
    assert all(len(d.encode()) <= 64 for d in data)
    assert data[0] != long_payload and data[1] != arabic and data[2] == "/deny"
    for update_id, pressed in enumerate(data, start=100):
        assert await tg.post(callback_update(update_id, pressed, keyboard=keyboard)) == 200
    await tg.settled()
    assert [m.text for m in tg.received] == [long_payload, arabic, "/deny"]

    # After a restart the key is unknown: the pressed button's title stands in for it.
    async with running(tg.fake) as restarted:
        assert await restarted.post(callback_update(200, data[0], keyboard=keyboard)) == 200
        assert await restarted.post(callback_update(201, data[0])) == 200  # no keyboard to read: ignored
        await restarted.settled()
        assert [m.text for m in restarted.received] == ["Couture"]


def test_callback_payload_map_is_bounded_and_stable():
    payloads = CallbackPayloads(capacity=3)
    long = ["/x" + str(i) * 70 for i in range(5)]
    keys = [payloads.encode(p) for p in long]
    assert payloads.encode(long[4]) == keys[4]  # one payload, one key
    assert [payloads.decode(k) for k in keys] == [None, None, long[2], long[3], long[4]]
    assert payloads.decode("/short") == "/short"
    assert payloads.encode("~k-looks-like-a-key") != "~k-looks-like-a-key"
    assert payloads.encode("") != ""  # Telegram refuses empty callback_data


async def test_a_long_text_is_split_under_telegrams_limit(tg: Harness):
    paragraph = "Had l-markaz kay3awen l3yalat f l-khedma w t-takwin. " * 28  # 1,484 characters
    text = (paragraph + "\n\n") * 8
    buttons = [Button("Wakha", "/affirm")]
    await tg.channel.send(str(HER), OutboundMessage(text=text, buttons=buttons))
    calls = tg.fake.sent()
    assert not tg.fake.refused and all(len(c["text"]) <= 4096 for c in calls)
    # Cut between paragraphs (two fit in a message), nothing lost, buttons under the last piece.
    assert [c["text"] for c in calls] == [(paragraph + "\n\n" + paragraph).rstrip()] * 4
    assert ["reply_markup" in c for c in calls] == [False, False, False, True]
    words = "kayna khedma f casa " * 1000  # no line break: cut between words
    await tg.channel.send(str(HER), OutboundMessage(text=words))
    pieces = [c["text"] for c in tg.fake.sent()[4:]]
    assert len(pieces) == 5 and " ".join(pieces).split() == words.split()


def test_split_counts_utf16_units_and_keeps_emoji_whole():
    text = "😀" * 5000  # 10,000 UTF-16 units
    pieces = split_text(text)
    assert "".join(pieces) == text
    assert all(len(p.encode("utf-16-le")) // 2 <= 4096 for p in pieces) and len(pieces) == 3
    arabic = "واش بغيتي تخدمي؟ " * 600
    assert all(len(p) <= 4096 for p in split_text(arabic))
    assert split_text("   ") == [] and split_text("salam") == ["salam"]
    assert split_text("x" * 5000) == ["x" * 4096, "x" * 904]


async def test_quick_exit_deletes_exactly_her_chats_bot_messages(tg: Harness):
    other = 555000111
    for text in ("Salam", "Ana m3ak", "Wach nti f amane?"):
        await tg.channel.send(str(HER), OutboundMessage(text=text))
    for text in ("Salam", "Bonjour"):
        await tg.channel.send(str(other), OutboundMessage(text=text))
    await tg.channel.send(str(HER), QUICK_EXIT)
    [delete] = tg.fake.sent("deleteMessages")
    assert delete["chat_id"] == str(HER)
    assert json.loads(delete["message_ids"]) == tg.fake.issued[str(HER)]
    assert len(tg.fake.sent()) == 5  # nothing sent after it

    await tg.channel.send(str(HER), QUICK_EXIT)  # nothing left to delete: no call
    assert len(tg.fake.sent("deleteMessages")) == 1
    await tg.channel.send(str(other), QUICK_EXIT)
    assert json.loads(tg.fake.sent("deleteMessages")[1]["message_ids"]) == tg.fake.issued[str(other)]


async def test_quick_exit_deletes_her_own_messages_too(tg: Harness):
    # In a private chat a bot may delete her messages as well: after "stop" the chat is empty.
    for update_id, text in ((501, "salam"), (502, "rajli kaydrebni")):
        assert await tg.post(text_update(update_id, text)) == 200
    await tg.settled()
    await tg.channel.send(str(HER), OutboundMessage(text="Ana m3ak."))
    assert await tg.post(text_update(503, "stop")) == 200
    await tg.settled()
    await tg.channel.send(str(HER), QUICK_EXIT)
    hers = [40 + 501, 40 + 502, 40 + 503]
    assert sorted(tg.fake.deleted(HER)) == sorted(hers + tg.fake.issued[str(HER)])


async def test_quick_exit_deletes_in_batches_of_100(tg: Harness):
    for i in range(230):
        await tg.channel.send(str(HER), OutboundMessage(text=f"m{i}"))
    await tg.channel.send(str(HER), QUICK_EXIT)
    batches = [json.loads(p["message_ids"]) for p in tg.fake.sent("deleteMessages")]
    assert [len(b) for b in batches] == [100, 100, 30]
    assert sum(batches, []) == tg.fake.issued[str(HER)]


async def test_quick_exit_falls_back_to_one_by_one(tg: Harness):
    tg.fake.missing.add("deleteMessages")  # an older Bot API server
    for text in ("a", "b", "c"):
        await tg.channel.send(str(HER), OutboundMessage(text=text))
    tg.fake.fail("deleteMessage", 400, "Bad Request: message to delete not found")  # she deleted one herself
    await tg.channel.send(str(HER), QUICK_EXIT)
    tried = [int(p["message_id"]) for name, p in tg.fake.calls + tg.fake.refused if name == "deleteMessage"]
    assert sorted(tried) == tg.fake.issued[str(HER)]
    assert len(tg.fake.sent("deleteMessage")) == 2


async def test_with_replicas_a_quick_exit_deletes_what_every_gateway_sent(fake: FakeTelegram):
    prefix = f"maak:test-tg-chat:{time.time_ns()}:"
    on_a, on_b, redis = (aioredis.from_url(TEST_REDIS_URL) for _ in range(3))  # each gateway has its own client
    async with running(fake, chat_messages=RedisChatMessages(on_a, prefix, b"pepper")) as a, \
            running(fake, chat_messages=RedisChatMessages(on_b, prefix, b"pepper")) as b:
        for i, gateway in enumerate((a, b, a, b, a)):
            await gateway.channel.send(str(HER), OutboundMessage(text=f"m{i}"))
        try:
            keys = [k.decode() for k in await redis.keys(prefix + "*")]
            assert len(keys) == 1 and str(HER) not in keys[0]  # Redis holds no chat id
            assert 0 < await redis.ttl(keys[0]) <= 48 * 3600
            await b.channel.send(str(HER), QUICK_EXIT)
            [delete] = fake.sent("deleteMessages")
            assert json.loads(delete["message_ids"]) == fake.issued[str(HER)]  # all five, oldest first
            assert await redis.keys(prefix + "*") == []
        finally:
            for client in (on_a, on_b, redis):
                await client.aclose()


async def test_a_message_is_delivered_even_when_its_id_cannot_be_kept(fake: FakeTelegram, caplog):
    unreachable = RedisChatMessages(aioredis.from_url("redis://127.0.0.1:1/0"), "maak:test:", b"pepper")
    async with running(fake, chat_messages=unreachable) as tg:
        with caplog.at_level(logging.WARNING):
            await tg.channel.send(str(HER), OutboundMessage(text="Ana m3ak"))
        assert tg.sent_texts() == ["Ana m3ak"]
        assert any(getattr(r, "event", "") == "telegram_id_not_kept" for r in caplog.records)


def test_sent_message_store_is_bounded():
    async def scenario() -> None:
        store = MemoryChatMessages(max_chats=2, per_chat=3, keep_seconds=3600)
        await store.record("a", [1, 2, 3, 4])
        await store.record("b", [5])
        await store.record("c", [6])
        assert await store.take("a") == []  # least recently written chat went first
        assert await store.take("b") == [5] and await store.take("b") == []
        expired = MemoryChatMessages(keep_seconds=0)
        await expired.record("a", [1])
        assert await expired.take("a") == []
        small = MemoryChatMessages(per_chat=3)
        await small.record("a", [1, 2, 3, 4])
        assert await small.take("a") == [2, 3, 4]

    asyncio.run(scenario())


# Telegram's errors


async def test_retry_after_is_waited_then_the_message_goes(tg: Harness):
    tg.fake.fail("sendMessage", 429, retry_after=1)
    started = time.monotonic()
    await tg.channel.send(str(HER), OutboundMessage(text="Salam"))
    assert time.monotonic() - started >= 0.9
    assert len(tg.fake.refused) == 1 and tg.sent_texts() == ["Salam"]


async def test_a_long_flood_wait_fails_at_once_for_a_human(tg: Harness):
    tg.fake.fail("sendMessage", 429, retry_after=3600)
    started = time.monotonic()
    with pytest.raises(DeliveryFailed, match="rate limited"):
        await tg.channel.send(str(HER), OutboundMessage(text="Salam"))
    assert time.monotonic() - started < 5 and tg.fake.sent() == []


async def test_network_errors_are_retried_with_a_bound(tg: Harness):
    tg.fake.fail("sendMessage", 502, "Bad Gateway", times=2)
    await tg.channel.send(str(HER), OutboundMessage(text="Salam"))
    assert tg.sent_texts() == ["Salam"] and len(tg.fake.refused) == 2
    tg.fake.fail("sendMessage", 502, "Bad Gateway", times=10)
    with pytest.raises(DeliveryFailed, match="unreachable"):
        await tg.channel.send(str(HER), OutboundMessage(text="Again"))
    assert len(tg.fake.refused) == 2 + tg.channel.max_attempts


async def test_a_closed_port_is_unreachable_not_a_crash():
    channel = TelegramChannel(telegram_settings("http://127.0.0.1:9/bot"), lambda m: asyncio.sleep(0))
    channel.backoff = (0.01,)
    await channel.start()
    try:
        with pytest.raises(DeliveryFailed, match="unreachable"):
            await channel.send(str(HER), OutboundMessage(text="Salam"))
    finally:
        await channel.close()


async def test_she_blocked_the_bot(tg: Harness):
    tg.fake.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
    with pytest.raises(DeliveryFailed, match="(?i)blocked by the user"):
        await tg.channel.send(str(HER), OutboundMessage(text="Salam"))
    assert len(tg.fake.refused) == 1  # not retried


async def test_a_bad_request_is_a_delivery_failure(tg: Harness):
    tg.fake.fail("sendMessage", 400, "Bad Request: chat not found")
    with pytest.raises(DeliveryFailed, match="(?i)chat not found"):
        await tg.channel.send(str(HER), OutboundMessage(text="Salam"))
    with pytest.raises(DeliveryFailed, match="not a chat id"):
        await tg.channel.send("not-a-chat", OutboundMessage(text="Salam"))
    assert len(tg.fake.refused) == 1


async def test_sending_before_start_fails_cleanly(fake: FakeTelegram):
    channel = TelegramChannel(telegram_settings(fake.base_url), lambda m: asyncio.sleep(0))
    with pytest.raises(DeliveryFailed, match="not started"):
        await channel.send(str(HER), OutboundMessage(text="Salam"))
    assert fake.calls == []


async def test_her_chat_id_and_words_are_never_logged(tg: Harness, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    words = "rajli kaydrebni 3afak 3awnini"
    assert await tg.post(text_update(31, words)) == 200
    assert await tg.post(callback_update(32, "/seek_job")) == 200
    assert await tg.post(text_update(33, words, chat_id=-4001, kind="group")) == 200
    assert await tg.post({"update_id": 34, "message": {"chat": {"id": HER}, "text": words}}) == 200
    await tg.settled()
    await tg.channel.send(str(HER), OutboundMessage(text=words, buttons=[Button("Iyeh", "/affirm")]))
    tg.fake.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
    with pytest.raises(DeliveryFailed):
        await tg.channel.send(str(HER), OutboundMessage(text=words))
    await tg.channel.send(str(HER), QUICK_EXIT)
    # python-telegram-bot, httpx and the fake's access log print calls (token, chat id, text): Maak keeps
    # them at WARNING (see the next test); everything else must be clean even at DEBUG.
    ours = [r for r in caplog.records if not r.name.startswith(("telegram", "httpx", "httpcore", "aiohttp.access"))]
    assert any(getattr(r, "event", "") == "telegram_ignored" for r in ours)
    for record in ours:
        line = record.getMessage()
        assert str(HER) not in line and words not in line and TOKEN not in line and SECRET not in line
        assert set(vars(record)) & {"sender", "text", "chat_id"} == set()


def test_library_loggers_that_print_calls_stay_at_warning_even_in_debug():
    from core.logs import configure_logging

    root = logging.getLogger()
    handlers, root_level = root.handlers[:], root.level
    names = ("telegram", "httpx", "httpcore", "aiohttp.access")
    levels = {n: logging.getLogger(n).level for n in names}
    try:
        configure_logging("DEBUG")
        assert all(logging.getLogger(n).getEffectiveLevel() >= logging.WARNING for n in names)
    finally:
        root.handlers[:] = handlers
        root.setLevel(root_level)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


# The CLI: maak telegram set-webhook


async def maak(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """`python -m cli ...` as a subprocess, without blocking the loop the fake runs in."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", *args,
        cwd=PROJECT_ROOT, env={**base, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def cli_env(fake: FakeTelegram, tmp_path: Path) -> dict[str, str]:
    return {
        "MAAK_VAR_DIR": str(tmp_path),
        "MAAK_SECRET": "test-secret",
        "MAAK_DATA_KEY": "test-data-key",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_API_BASE": fake.base_url,
    }


async def test_cli_registers_the_webhook_with_the_secret(fake: FakeTelegram, tmp_path: Path):
    url = "https://example.org/webhooks/telegram"
    code, out, err = await maak("telegram", "set-webhook", url, env=cli_env(fake, tmp_path))
    assert code == 0, err
    [call] = fake.sent("setWebhook")
    assert call["url"] == "https://example.org/webhooks/telegram"
    assert call["secret_token"] == SECRET
    assert json.loads(call["allowed_updates"]) == ["message", "callback_query"]
    assert json.loads(call["drop_pending_updates"]) is False
    assert "example.org" in out and TOKEN not in out + err and SECRET not in out + err


async def test_cli_refuses_plain_http_unless_on_loopback(fake: FakeTelegram, tmp_path: Path):
    env = cli_env(fake, tmp_path)
    for url in ("http://example.org/webhooks/telegram", "ftp://example.org/x", "example.org/webhooks/telegram"):
        code, _, err = await maak("telegram", "set-webhook", url, env=env)
        assert code == 2 and "maak:" in err and "Traceback" not in err, err
    assert fake.calls == []
    code, _, err = await maak("telegram", "set-webhook", "http://127.0.0.1:8080/webhooks/telegram", env=env)
    assert code == 0, err
    assert fake.sent("setWebhook")[0]["url"] == "http://127.0.0.1:8080/webhooks/telegram"


async def test_cli_names_what_is_missing(fake: FakeTelegram, tmp_path: Path):
    env = cli_env(fake, tmp_path)
    del env["TELEGRAM_BOT_TOKEN"]
    code, _, err = await maak("telegram", "set-webhook", "https://example.org/webhooks/telegram", env=env)
    assert code == 2 and "TELEGRAM_BOT_TOKEN" in err and "Traceback" not in err
    bad_secret = {**cli_env(fake, tmp_path), "TELEGRAM_WEBHOOK_SECRET": "has spaces!"}
    code, _, err = await maak("telegram", "set-webhook", "https://example.org/x", env=bad_secret)
    assert code == 2 and "TELEGRAM_WEBHOOK_SECRET" in err
    fake.fail("setWebhook", 400, "Bad Request: bad webhook: Failed to resolve host")
    code, _, err = await maak("telegram", "set-webhook", "https://nowhere.invalid/x", env=cli_env(fake, tmp_path))
    assert code == 1 and "failed to resolve host" in err.lower() and "Traceback" not in err
    assert fake.calls == []


def test_webhook_url_rules():
    assert webhook_url_problem("https://maak.example.org/webhooks/telegram") is None
    assert webhook_url_problem("http://localhost:8080/webhooks/telegram") is None
    assert webhook_url_problem("http://[::1]:8080/webhooks/telegram") is None
    assert webhook_url_problem("http://127.0.0.2/webhooks/telegram") is None
    for bad in ("http://example.org/x", "http://10.0.0.1/x", "https://", "mailto:a@b.c", "http://[::1/x"):
        assert webhook_url_problem(bad), bad


# Fuzz: the webhook with the right secret and a thousand malformed updates


class ThreadedGateway:
    """The channel and the fake Bot API in an event loop of their own, for a synchronous fuzz."""

    def __init__(self) -> None:
        self.received: list[InboundMessage] = []
        self.loop = asyncio.new_event_loop()
        self.url = ""
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),), daemon=True)

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        fake = FakeTelegram(TOKEN)

        async def collect(message: InboundMessage) -> None:
            self.received.append(message)

        async for fake_url in serve(fake.app()):
            fake.url = fake_url
            async with running(fake, collect) as harness:
                self.url = f"{harness.url}/webhooks/telegram"
                self._ready.set()
                await self._stop.wait()

    def __enter__(self) -> "ThreadedGateway":
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self.loop.close()


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
_WEIRD = _JSON | st.sampled_from(
    [-1, 0, 2**63, 10**30, 1.5, "", "private", "٣", [], {}, True, "\ud800", "\x00", {"id": "x"}, [[{"a": None}]]]
)
_TEMPLATES = [
    text_update(1, "salam"),
    text_update(2, "/start"),
    callback_update(3, "/seek_job", keyboard={"inline_keyboard": [[{"text": "X", "callback_data": "/seek_job"}]]}),
    message_update(4, **ATTACHMENTS["photo"]),
    message_update(5, **ATTACHMENTS["venue"]),
]


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, prefix + (index,))
    return found


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    """A documented update with one part replaced by a wrong type, a huge value, or removed."""
    update = json.loads(json.dumps(draw(st.sampled_from(_TEMPLATES))))
    path = draw(st.sampled_from(_paths(update)[1:]))
    parent = update
    for step in path[:-1]:
        parent = parent[step]
    how = draw(st.sampled_from(["replace", "delete", "huge", "nest"]))
    if how == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
    elif how == "huge":
        parent[path[-1]] = draw(st.sampled_from(["x", "ي", "😀", "\n"])) * draw(st.integers(5_000, 60_000))
    elif how == "nest":
        # Written by hand: json.dumps itself would recurse too deep.
        depth = draw(st.integers(2, 3_000))
        parent[path[-1]] = "__nest__"
        return json.dumps(update).replace('"__nest__"', "[" * depth + "]" * depth).encode()
    else:
        parent[path[-1]] = draw(_WEIRD)
    return json.dumps(update).encode()  # ensure_ascii: a lone surrogate travels as an escape


def _reply_chain(depth: int) -> bytes:
    inner = '{"message_id": 1, "date": 0, "chat": {"id": 5, "type": "private"}, "text": "x"}'
    for _ in range(depth):
        inner = '{"message_id": 1, "date": 0, "chat": {"id": 5, "type": "private"}, "reply_to_message": ' + inner + "}"
    return ('{"update_id": 9, "message": ' + inner + "}").encode()


MALFORMED = st.one_of(
    _JSON.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(["update_id", "message", "callback_query", "edited_message", "x"]), _JSON, max_size=3)
    .map(lambda v: json.dumps(v).encode()),
    _mutated(),
    _mutated(),
    _mutated(),
    st.binary(max_size=300),
    st.integers(1, 20_000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(10, 2_000).map(_reply_chain),
    st.just(b'{"update_id": 1, "message": "' + b"x" * (MAX_UPDATE_BYTES + 10) + b'"}'),
    st.just(b'{"update_id": ' + b"9" * 5000 + b"}"),
)


def test_a_refused_body_does_not_hang_the_next_request_on_the_connection():
    """Telegram keeps its connections open: an answer that leaves a body unread must not stall them."""
    update = json.dumps(text_update(61, "salam")).encode()
    with ThreadedGateway() as gateway, requests.Session() as http:
        for secret, body, status in [
            (None, update, 401),
            ("wrong", update, 403),
            (SECRET, b" " * (MAX_UPDATE_BYTES + 1), 413),
            (SECRET, update, 200),
        ]:
            headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
            assert http.post(gateway.url, data=body, headers=headers, timeout=5).status_code == status
        deadline = time.monotonic() + 5
        while not gateway.received:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    assert [m.text for m in gateway.received] == ["salam"]


def test_fuzzed_updates_never_crash_and_never_hide_her_message():
    sent = 0
    marker = 0
    statuses: set[int] = set()
    with ThreadedGateway() as gateway, requests.Session() as http:
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}

        @hypothesis_settings(
            max_examples=200,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
        )
        @given(batch=st.lists(MALFORMED, min_size=6, max_size=8), at=st.integers(0, 8))
        def fuzz(batch: list[bytes], at: int) -> None:
            nonlocal sent, marker
            marker += 1
            good = json.dumps(text_update(10**12 + marker, f"marker {marker}", chat_id=424242)).encode()
            bodies = batch[:at] + [good] + batch[at:]
            for body in bodies:
                status = http.post(gateway.url, data=body, headers=headers, timeout=10).status_code
                assert status in (200, 400, 413), (status, body[:200])
                statuses.add(status)
            sent += len(batch)
            expected = InboundMessage("telegram", "424242", f"marker {marker}", message_id=str(10**12 + marker))
            deadline = time.monotonic() + 5
            while expected not in gateway.received:
                assert time.monotonic() < deadline, "a well-formed update was lost"
                time.sleep(0.005)

        started = time.monotonic()
        fuzz()
        elapsed = time.monotonic() - started
        assert requests.post(gateway.url, data=b"{}", headers=headers, timeout=10).status_code == 200
    assert sent >= 1000, sent
    assert statuses == {200, 400, 413}  # read and ignored, not JSON, too large: all exercised
    for message in gateway.received:  # whatever got through is well typed
        assert isinstance(message.sender, str) and message.sender.lstrip("-").isdigit()
        assert isinstance(message.text, str) and isinstance(message.message_id, str)
        message.text.encode("utf-8")  # no lone surrogate reaches the store
    assert elapsed < 60, elapsed
