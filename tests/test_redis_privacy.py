"""What Maak keeps in Redis about her: never an address or a platform message id in clear, and
nothing once she asks to be forgotten. On the real Redis of the tests."""

from __future__ import annotations

import asyncio
import uuid
from typing import AsyncIterator

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from bot.dedupe import Dedupe
from bot.notices import CaseNotices
from bot.outbox import Outbox
from bot.rasa_client import RasaClient
from bot.ratelimit import RateLimiter
from bot.retention import Eraser
from bot.router import Router
from bot.texts import default_texts
from channels.base import InboundMessage, OutboundMessage
from channels.chat_messages import RedisChatMessages
from channels.numbered_menus import RedisNumberedMenus
from channels.telegram import TelegramChannel
from channels.webchat import WebChatChannel
from channels.whatsapp import WhatsAppChannel
from core.privacy import Cipher, conversation_id
from core.redis_keys import telegram_chat_messages, whatsapp_numbered_menus
from core.settings import TelegramSettings, WhatsAppSettings
from core.store import Store
from handoff.cases import CaseQueue
from handoff.oncall import OnCall
from tests.conftest import TEST_REDIS_URL
from tests.support.fakes import FakeRasa, serve
from tools.clients import ChatClient

SECRET = b"redis-privacy-secret"
HER_NUMBER, HER_CHAT = "212612345678", "987654321"
# A WhatsApp message id carries her number, base64-encoded ("MjEyNjEyMzQ1Njc4" is "212612345678").
WAMID = "wamid.HBgMMjEyNjEyMzQ1Njc4FQIAEhggQTNFQjk0RjY0QkQ2QjM0NzFBAA=="


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(TEST_REDIS_URL)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


async def _all_of(redis: aioredis.Redis) -> bytes:
    """Every key and every value in the database, as one blob to search."""
    blob = b""
    async for key in redis.scan_iter():
        blob += key + b"\n"
        kind = await redis.type(key)
        if kind == b"string":
            blob += (await redis.get(key) or b"") + b"\n"
        elif kind == b"zset":
            blob += b" ".join(await redis.zrange(key, 0, -1)) + b"\n"
    return blob


async def _nothing(*_: object) -> None:
    return None


async def _nobody() -> set[str]:
    return set()


async def test_a_redelivered_message_is_known_by_an_hmac_of_its_id(redis):
    dedupe = Dedupe(SECRET, redis)
    assert await dedupe.first_time("whatsapp", WAMID)
    assert not await dedupe.first_time("whatsapp", WAMID)  # the platform's retry, from any replica
    assert not await Dedupe(SECRET, redis).first_time("whatsapp", WAMID)
    kept = await _all_of(redis)
    assert kept and WAMID.encode() not in kept and b"MjEyNjEyMzQ1Njc4" not in kept


@pytest.mark.parametrize(("channel", "address"), [("whatsapp", HER_NUMBER), ("telegram", HER_CHAT)])
async def test_forget_me_leaves_nothing_of_hers_in_redis(redis, tmp_path, channel, address):
    fake = FakeRasa()
    fake.replies = [{"custom": {"maak": "forget"}}]  # what action_forget_me answers
    store = Store(f"sqlite:///{tmp_path / 'maak.db'}")
    store.migrate()
    cipher = Cipher(b"key")
    menus = RedisNumberedMenus(redis, whatsapp_numbered_menus(), SECRET)
    shown = RedisChatMessages(redis, telegram_chat_messages(), SECRET)
    channels = {
        "whatsapp": WhatsAppChannel(WhatsAppSettings("v", "s", "t", "1", "http://127.0.0.1:9"), _nothing,
                                    numbered_menus=menus),
        "telegram": TelegramChannel(TelegramSettings("1:x", "s", "http://127.0.0.1:9/bot", ()), _nothing, shown),
    }
    # What her earlier messages left: a numbered menu, her chat's message ids, a rate window.
    await menus.remember(HER_NUMBER, ["/seek_job", "/seek_training"])
    await shown.record(HER_CHAT, [11, 12, 13])
    limiter = RateLimiter(12, 10, redis)
    conv = conversation_id(SECRET, channel, address)
    await limiter.hit(conv)
    assert await _all_of(redis)
    async for url in serve(fake.app()):
        async with aiohttp.ClientSession() as http:
            rasa = RasaClient(http, url, "token", timeout=5)
            queue = CaseQueue(store, cipher)
            outbox = Outbox(store, cipher, channels)
            router = Router(
                secret=SECRET, store=store, cipher=cipher, queue=queue, rasa=rasa,
                eraser=Eraser(store, f"sqlite:///{tmp_path / 'tracker.db'}"), texts=default_texts(), outbox=outbox,
                notices=CaseNotices(queue, outbox, default_texts(), OnCall(), rasa, online=_nobody),
                dedupe=Dedupe(SECRET), limiter=limiter, max_text_chars=2000,
            )
            await router.handle(InboundMessage(channel=channel, sender=address, text="/forget_me"))
    assert fake.received  # the bot read her request
    left = [key async for key in redis.scan_iter()]
    mine = {"whatsapp": menus.key(HER_NUMBER), "telegram": shown.key(HER_CHAT)}[channel]
    assert mine.encode() not in left
    assert not [key for key in left if key.startswith(b"maak:rate:")]
    assert store.get_contact(conv) is None
    store.dispose()


async def test_the_web_chat_between_replicas_crosses_redis_sealed(redis):
    channel_name = f"maak:test:socketio:{uuid.uuid4().hex}"
    cipher = Cipher(b"key")
    replicas = [WebChatChannel(SECRET, cipher, _nothing, redis_url=TEST_REDIS_URL, redis_channel=channel_name)
                for _ in range(2)]
    apps = []
    for replica in replicas:
        app = web.Application()
        replica.attach(app)
        apps.append(app)
    listener = redis.pubsub()
    await listener.subscribe(channel_name)
    crossed: list[bytes] = []

    async def record() -> None:
        async for message in listener.listen():
            if message["type"] == "message":
                crossed.append(message["data"])

    recording = asyncio.create_task(record())
    try:
        async for her_gateway in serve(apps[0]):
            async for _ in serve(apps[1]):
                async with ChatClient(her_gateway) as chat:
                    await asyncio.sleep(0.5)  # both replicas listening
                    # A counsellor's words, sent by the other replica, reach her socket...
                    await replicas[1].send(chat.session_id, OutboundMessage(text="zebracorn-7761 ana m3ak"))
                    for _ in range(100):
                        if chat.received:
                            break
                        await asyncio.sleep(0.05)
                    assert [m.get("text") for m in chat.received] == ["zebracorn-7761 ana m3ak"]
                    # ...and what crossed Redis says neither the words nor her session id.
                    assert crossed
                    assert not [m for m in crossed if b"zebracorn" in m or chat.session_id.encode() in m]
    finally:
        recording.cancel()
        await listener.aclose()
