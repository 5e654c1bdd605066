"""The gateway: one aiohttp application wiring channels, the router, the case queue, the console
and the stores; the internal API has a listener of its own (`bot/internal_api.py`). Each resource
opens in its own cleanup context and closes in reverse order, so a failure while one opens still
closes every one opened before it."""

from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from bot.dedupe import Dedupe
from bot.internal_api import InternalApi
from bot.notices import CaseNotices
from bot.outbox import Outbox
from bot.rasa_client import RasaClient
from bot.ratelimit import NewConversations, RateLimiter
from bot.retention import Eraser, purge_periodically
from bot.router import Router
from bot.texts import default_texts
from channels.base import Channel, InboundMessage, OnMessage, OnUndelivered, OutboundMessage
from channels.chat_messages import RedisChatMessages
from channels.numbered_menus import RedisNumberedMenus
from channels.telegram import TelegramChannel
from channels.webchat import Connections, OnResume, WebChatChannel
from channels.webchat.page import add_page_routes
from channels.whatsapp import WhatsAppChannel
from core.logs import configure_logging
from core.privacy import Cipher
from core.redis_keys import socketio_channel, telegram_chat_messages, whatsapp_numbered_menus
from core.settings import Settings
from core.store import Store
from handoff.bus import LocalBus, RedisBus
from handoff.callback import announce_periodically
from handoff.cases import CaseQueue
from handoff.console.api import CONSOLE, ConsoleApi, add_console_routes
from handoff.console.auth import Sessions
from handoff.console.hub import ConsoleHub
from handoff.console.page import add_console_page
from handoff.escalation import escalate_periodically
from handoff.oncall import ChatOnCall, OnCall

logger = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
QUEUE = web.AppKey("queue", CaseQueue)
ROUTER = web.AppKey("router", Router)
RASA = web.AppKey("rasa", RasaClient)
HTTP = web.AppKey("http", aiohttp.ClientSession)
CHANNELS: web.AppKey[dict[str, Channel]] = web.AppKey("channels")
NOTICES = web.AppKey("notices", CaseNotices)
BUS = web.AppKey("bus", LocalBus)
REDIS: web.AppKey[aioredis.Redis | None] = web.AppKey("redis")
CIPHER = web.AppKey("cipher", Cipher)
ERASER = web.AppKey("eraser", Eraser)
ONCALL = web.AppKey("oncall", OnCall)
HUB = web.AppKey("hub", ConsoleHub)


def create_app(settings: Settings) -> web.Application:
    """The gateway application; resources open in `cleanup_ctx`, nothing connects before start-up."""
    app = web.Application(client_max_size=256 * 1024)
    app[SETTINGS] = settings
    app[CIPHER] = Cipher(settings.data_key)
    # The one Redis client of this gateway (bus, dedupe, rate limits, WhatsApp menus, Telegram
    # message ids, health); it connects on first use, so nothing connects before start-up.
    app[REDIS] = (aioredis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=2)
                  if settings.redis_url else None)

    async def on_message(message: InboundMessage) -> None:
        await app[ROUTER].handle(message)

    async def on_resume(session_id: str, seen: int) -> None:
        await app[ROUTER].resume(WebChatChannel.name, session_id, seen)

    async def on_undelivered(seq: int, reason: str) -> None:
        await app[QUEUE].undelivered(seq, reason)

    channels = _channels(settings, app[CIPHER], app[REDIS], on_message, on_resume, on_undelivered)
    for channel in channels:
        channel.attach(app)
    app[CHANNELS] = {channel.name: channel for channel in channels}

    app[ONCALL] = _new_on_call(settings, app[CHANNELS])
    app.cleanup_ctx.extend(
        [_store, _redis, _bus, _http, _eraser, _services, _internal_listener, _channels_running, _background]
    )
    add_page_routes(app)
    add_console_page(app)
    add_console_routes(app)
    app.router.add_get("/health", health)
    return app


def _channels(
    settings: Settings, cipher: Cipher, redis: aioredis.Redis | None,
    on_message: OnMessage, on_resume: OnResume, on_undelivered: OnUndelivered,
) -> list[Channel]:
    """The web chat always; WhatsApp and Telegram when their settings are all there."""
    channels: list[Channel] = [
        WebChatChannel(settings.secret, cipher, on_message, on_resume, redis_url=settings.redis_url,
                       admit=NewConversations(settings.secret, settings.chat_new_conversations_per_hour,
                                              settings.chat_limits_exempt, redis).admit,
                       trusted_proxies=settings.trusted_proxies,
                       connections=Connections(settings.chat_connections_per_address, settings.trusted_proxies,
                                               settings.chat_limits_exempt),
                       redis_channel=socketio_channel(settings.redis_db))
    ]
    if settings.whatsapp is not None:
        # With replicas, her answer "2" may reach another gateway than the one that sent the menu.
        menus = RedisNumberedMenus(redis, whatsapp_numbered_menus(), settings.secret) if redis is not None else None
        channels.append(WhatsAppChannel(settings.whatsapp, on_message, on_undelivered, menus))
    else:
        logger.info("WhatsApp is off: set WHATSAPP_VERIFY_TOKEN, WHATSAPP_APP_SECRET, WHATSAPP_ACCESS_TOKEN "
                    "and WHATSAPP_PHONE_NUMBER_ID to turn it on", extra={"event": "channel_off", "channel": "whatsapp"})
    if settings.telegram is not None:
        # With replicas, every gateway must know the messages in her chat, for the quick exit.
        shown = RedisChatMessages(redis, telegram_chat_messages(), settings.secret) if redis is not None else None
        channels.append(TelegramChannel(settings.telegram, on_message, shown))
    else:
        logger.info("Telegram is off: set TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET to turn it on",
                    extra={"event": "channel_off", "channel": "telegram"})
    return channels


def _new_on_call(settings: Settings, channels: dict[str, Channel]) -> OnCall:
    telegram = settings.telegram
    if telegram is None or not telegram.oncall_chat_ids:
        logger.info("no on-call Telegram chats configured: escalations are only logged", extra={"event": "oncall_off"})
        return OnCall()
    channel = channels[TelegramChannel.name]

    async def send(chat_id: str, text: str) -> None:
        await channel.send(chat_id, OutboundMessage(text=text))

    return ChatOnCall(send, telegram.oncall_chat_ids, settings.public_url + "/console")


async def _store(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    settings.var_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # the embedded SQLite store lives there
    store = app[STORE] = Store(settings.store_url)
    try:
        await store.run(store.migrate)
        yield
    finally:
        store.dispose()


async def _redis(app: web.Application) -> AsyncIterator[None]:
    yield
    redis = app[REDIS]
    if redis is not None:
        await redis.aclose()


async def _bus(app: web.Application) -> AsyncIterator[None]:
    # Pub/sub holds a connection of its own, taken from the one client's pool.
    redis = app[REDIS]
    bus = app[BUS] = RedisBus(redis, app[CIPHER]) if redis is not None else LocalBus()
    await bus.start()
    yield
    await bus.stop()


async def _http(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as http:
        app[HTTP] = http
        yield


async def _eraser(app: web.Application) -> AsyncIterator[None]:
    eraser = app[ERASER] = Eraser(app[STORE], app[SETTINGS].tracker_url)
    yield
    eraser.dispose()


async def _services(app: web.Application) -> AsyncIterator[None]:
    """The queue, the router and the console, wired over the resources above; nothing here to close but sockets."""
    settings, store, cipher = app[SETTINGS], app[STORE], app[CIPHER]
    rasa = app[RASA] = RasaClient(app[HTTP], settings.rasa_url, settings.rasa_token)
    queue = app[QUEUE] = CaseQueue(store, cipher, app[BUS])
    texts = default_texts()
    channels: dict[str, Channel] = app[CHANNELS]
    outbox = Outbox(store, cipher, channels)
    sessions = Sessions(store, settings.secret, settings.trusted_proxies, settings.secure_cookies)
    hub = app[HUB] = ConsoleHub(store, app[BUS], sessions.still_valid)
    notices = app[NOTICES] = CaseNotices(queue, outbox, texts, app[ONCALL], rasa, online=hub.online_usernames)
    queue.subscribe(notices)
    app[ROUTER] = Router(
        secret=settings.secret,
        store=store,
        cipher=cipher,
        queue=queue,
        rasa=rasa,
        eraser=app[ERASER],
        texts=texts,
        outbox=outbox,
        notices=notices,
        dedupe=Dedupe(settings.secret, app[REDIS]),
        limiter=RateLimiter(settings.rate_limit_messages, settings.rate_limit_seconds, app[REDIS]),
        max_text_chars=settings.max_text_chars,
    )
    app[CONSOLE] = ConsoleApi(
        store=store, queue=queue, sessions=sessions, hub=hub,
        deliver=outbox.send_counsellor, sla_seconds=settings.handoff_sla_seconds,
    )
    # Before the port opens (so before /health says ready): nothing the first urgent message needs is cold.
    await app[ROUTER].warm()
    yield
    await hub.close_all()


async def _internal_listener(app: web.Application) -> AsyncIterator[None]:
    """The action server's way in, on its own private address and port (bot/internal_api.py)."""
    settings = app[SETTINGS]
    internal = InternalApi(token=settings.internal_token, store=app[STORE], queue=app[QUEUE],
                           online=app[HUB].online_usernames)
    runner = web.AppRunner(internal.app(), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.internal_host, settings.internal_port).start()
        yield
    finally:
        await runner.cleanup()


async def _channels_running(app: web.Application) -> AsyncIterator[None]:
    """Channels start once the router can take what they receive, and finish it before it goes."""
    started: list[Channel] = []
    try:
        for channel in app[CHANNELS].values():
            await channel.start()
            started.append(channel)
        yield
    finally:
        for channel in reversed(started):
            await channel.close()


async def _background(app: web.Application) -> AsyncIterator[None]:
    settings, queue = app[SETTINGS], app[QUEUE]
    tasks = [
        asyncio.create_task(purge_periodically(app[ERASER], app[STORE], settings.retention_days)),
        asyncio.create_task(escalate_periodically(queue, settings.handoff_sla_seconds)),
        asyncio.create_task(announce_periodically(queue)),
        asyncio.create_task(app[HUB].keep_presence()),
        asyncio.create_task(app[ONCALL].send_held_periodically()),
    ]
    yield
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def health(request: web.Request) -> web.Response:
    """200 when every part answers; 503 naming the failing parts otherwise."""
    app = request.app
    settings = app[SETTINGS]
    parts: dict[str, bool] = {}
    try:
        await app[STORE].run(app[STORE].ping)
        parts["store"] = True
    except Exception:
        parts["store"] = False
    parts["rasa"] = await app[RASA].ready()
    parts["actions"] = await _answers(app[HTTP], settings.action_url.rsplit("/", 1)[0] + "/health")
    redis = app[REDIS]
    if redis is not None:
        parts["redis"] = await _redis_answers(redis)
    failing = sorted(name for name, ok in parts.items() if not ok)
    if failing:
        return web.json_response({"status": "unavailable", "failing": failing, "parts": parts}, status=503)
    return web.json_response({"status": "ok", "parts": parts})


async def _answers(http: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=3)) as response:
            return response.status == 200
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return False


async def _redis_answers(client: aioredis.Redis) -> bool:
    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        return False


def serve(settings: Settings) -> None:
    """Run the gateway until it is stopped (`python -m bot`, which `maak run` starts)."""
    configure_logging(settings.log_level)
    # A short shutdown: open chat sockets are closed rather than waited for (she reconnects).
    web.run_app(create_app(settings), host=settings.host, port=settings.port, access_log=None, print=None,
                shutdown_timeout=3)
