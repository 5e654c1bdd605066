"""Telegram through the Bot API (python-telegram-bot): a webhook in, `sendMessage` out.

Only private chats are served. The webhook answers at once and hands her message to `on_message`
in a task, so a slow turn never makes Telegram re-send it. Addresses are chat ids as strings; they
and her words are never logged. On quick exit the bot deletes the chat's messages, hers and its
own (a bot may, in a private chat, for 48 hours).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import re
import warnings
from base64 import urlsafe_b64encode
from collections import OrderedDict
from datetime import timedelta
from functools import partial
from typing import Any, Awaitable, Callable, Sequence, TypeVar
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.error import (
    BadRequest,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.request import HTTPXRequest

from channels import webhook
from channels.base import Button, Channel, ChannelError, DeliveryFailed, InboundMessage, OnMessage, OutboundMessage
from channels.chat_messages import ChatMessages, MemoryChatMessages
from channels.webhook import HandOver, RetryLater, read_capped, unread, with_retries
from core.settings import TelegramSettings

logger = logging.getLogger(__name__)


T = TypeVar("T")

WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ("message", "callback_query")
TEXT_LIMIT = 4096  # Bot API, in UTF-16 code units
CALLBACK_DATA_LIMIT = 64  # Bot API, in bytes
DELETE_BATCH = 100  # deleteMessages takes 1-100 ids
# Telegram's rules for secret_token: 1-256 of these characters.
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_START = re.compile(r"^/start(?:@\w+)?(?:\s.*)?$", re.DOTALL)
_COMMAND_MENTION = re.compile(r"^(/\w+)@\w+(?=\s|$)")
# Text of a message that only carries buttons: Telegram refuses an empty text.
BUTTONS_ONLY_TEXT = "…"
# Most specific first: a venue also carries a location, an animation also a document.
_ATTACHMENTS = (
    "animation", "audio", "document", "paid_media", "photo", "sticker", "story", "video",
    "video_note", "voice", "contact", "dice", "game", "poll", "venue", "location", "invoice",
)  # fmt: skip
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def _log(level: int, text: str, event: str) -> None:
    logger.log(level, text, extra={"event": event, "channel": "telegram"})


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _clean(text: str) -> str:
    """Her text without lone surrogates (JSON allows them; encrypting and storing her text would fail)."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _utf16_units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Pieces of at most `limit` UTF-16 units (the Bot API counts them), emoji kept whole."""
    return webhook.split_text(text, limit, _utf16_units)


def webhook_url_problem(url: str) -> str | None:
    """Why Telegram could not post to `url`, or None. Plain http is allowed on loopback only (tests,
    a local Bot API server): Telegram itself accepts https only."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return f"{url!r} is not a URL"
    if parts.scheme not in ("http", "https") or not host:
        return f"{url!r} is not an http(s) URL"
    if parts.scheme == "http" and not _loopback(host):
        return f"Telegram only posts to https URLs: {url!r} is plain http and not on this machine"
    return None


def _loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secret_token_problem(secret: str) -> str | None:
    """Why Telegram would refuse `secret` as a webhook secret_token, or None."""
    if _SECRET_TOKEN.match(secret):
        return None
    return "TELEGRAM_WEBHOOK_SECRET must be 1-256 characters among A-Z, a-z, 0-9, _ and - (Telegram's rule)"


class CallbackPayloads:
    """Button payloads too long for callback_data (64 bytes) travel as a short key.

    The key is a hash of the payload, so one payload has one key and the map does not grow with
    repeats; it is bounded (least recently used goes). A key not found after a restart or eviction
    falls back to the pressed button's title, which the NLU understands like typed text.
    """

    PREFIX = "~k"

    def __init__(self, capacity: int = 10_000) -> None:
        self._payloads: OrderedDict[str, str] = OrderedDict()
        self._capacity = capacity

    def encode(self, payload: str) -> str:
        size = len(payload.encode("utf-8", "replace"))
        if 1 <= size <= CALLBACK_DATA_LIMIT and not payload.startswith(self.PREFIX):
            return payload
        digest = hashlib.sha256(payload.encode("utf-8", "replace")).digest()[:18]
        key = self.PREFIX + urlsafe_b64encode(digest).decode()
        self._payloads.pop(key, None)
        self._payloads[key] = payload
        while len(self._payloads) > self._capacity:
            self._payloads.popitem(last=False)
        return key

    def decode(self, data: str) -> str | None:
        """The payload behind `data`; None for a key no longer known."""
        if not data.startswith(self.PREFIX):
            return data
        return self._payloads.get(data)


class TelegramChannel(Channel):
    """Telegram private chats through a webhook and python-telegram-bot's `Bot`."""

    name = "telegram"
    # Bounds of the retries, so that a flood wait or an outage cannot hold her conversation long.
    max_attempts = 4
    backoff: Sequence[float] = (0.5, 1.0, 2.0)
    max_wait_seconds = 30.0
    # How long `close` waits for messages already handed to `on_message`.
    close_timeout_seconds = 30.0

    def __init__(
        self,
        settings: TelegramSettings,
        on_message: OnMessage,
        chat_messages: ChatMessages | None = None,
    ) -> None:
        self._settings = settings
        self._secret_digest = hashlib.sha256(settings.webhook_secret.encode()).digest()
        self._on_message = on_message
        self._messages: ChatMessages = chat_messages or MemoryChatMessages()
        self._callbacks = CallbackPayloads()
        self._bot: Bot | None = None
        self._requests: tuple[HTTPXRequest, ...] = ()
        self._hand_over = HandOver(self.name, self.close_timeout_seconds)

    # Lifecycle

    def attach(self, app: web.Application) -> None:
        app.router.add_post(WEBHOOK_PATH, self._webhook)

    async def start(self) -> None:
        """Build the Bot with its HTTP clients; no network call (getMe is not needed to send)."""
        if secret_token_problem(self._settings.webhook_secret):
            _log(logging.WARNING, "webhook secret has characters Telegram refuses", "telegram_bad_secret")
        # Own request objects, so `close` can shut their clients without `Bot.initialize()` (a getMe).
        self._requests = (HTTPXRequest(read_timeout=10.0, write_timeout=10.0), HTTPXRequest())
        self._bot = Bot(
            self._settings.bot_token,
            base_url=self._settings.api_base,
            request=self._requests[0],
            get_updates_request=self._requests[1],
        )
        for request in self._requests:
            await request.initialize()
        self._hand_over.open()

    async def drain(self) -> None:
        """Wait until every message handed to `on_message` so far has been handled."""
        await self._hand_over.drain()

    async def close(self) -> None:
        """Finish the messages already accepted (within a bound), then close the HTTP clients."""
        await self._hand_over.close()
        if self._bot is not None:
            await self._bot.shutdown()
        for request in self._requests:
            await request.shutdown()
        self._bot, self._requests = None, ()

    async def forget(self, address: str) -> None:
        await self._messages.take(address)

    # Inbound

    async def _webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER)
        if given is None:
            _log(logging.WARNING, "webhook call without the secret", "telegram_unauthorised")
            return unread(401)
        # Digests compared, so that not even the secret's length shows in the timing.
        given_digest = hashlib.sha256(given.encode("utf-8", "replace")).digest()
        if not hmac.compare_digest(given_digest, self._secret_digest):
            _log(logging.WARNING, "webhook call with a wrong secret", "telegram_forbidden")
            return unread(403)
        if self._hand_over.busy:
            # Telegram keeps the update and re-sends it: memory stays bounded and nothing is lost.
            return unread(503)
        body = await read_capped(request)
        if body is None:
            _log(logging.WARNING, "update larger than the cap refused", "telegram_too_large")
            return unread(413)
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            _log(logging.WARNING, "webhook body is not JSON", "telegram_bad_update")
            return web.Response(status=400)
        if not isinstance(data, dict):
            _log(logging.WARNING, "webhook body is not an object", "telegram_bad_update")
            return web.Response(status=400)
        # An object from Telegram that cannot be read (a future shape, say) is acknowledged, so
        # Telegram does not re-send it and hold back her next updates; it is logged, not kept.
        try:
            update = Update.de_json(data, self._bot)
            inbound, reason = self._inbound(update)
        except Exception as exc:  # PTB raises whatever a wrong type triggers; nothing must crash here
            _log(logging.WARNING, f"unreadable update ignored ({type(exc).__name__})", "telegram_bad_update")
            return web.Response(status=200)
        if inbound is None:
            _log(logging.INFO, f"update ignored: {reason}", "telegram_ignored")
        else:
            shown = update.message.message_id if update.message is not None else None
            self._hand_over.spawn(self._deliver(inbound, shown if _is_int(shown) else None))
        # An empty body: Telegram would execute a Bot API call written in the answer.
        return web.Response(status=200)

    def _inbound(self, update: Update) -> tuple[InboundMessage | None, str]:
        """Her message in this update, or None and why not."""
        if not _is_int(update.update_id):
            return None, "no update id"
        message_id = str(update.update_id)
        if update.callback_query is not None:
            return self._pressed(update, message_id)
        message = update.message
        if message is None:
            return None, "edited message" if update.edited_message is not None else "not a message"
        chat = message.chat
        if not _is_int(chat.id) or chat.type != "private":
            # Maak talks to her alone: answering in a group would show others she is in contact.
            return None, "not a private chat"
        sender = str(chat.id)
        text = message.text
        if isinstance(text, str):
            return InboundMessage(self.name, sender, _clean(_command(text)), message_id=message_id), ""
        kind = next((k for k in _ATTACHMENTS if getattr(message, k, None)), None)
        if kind is None:
            return None, "service message"
        caption = message.caption
        if isinstance(caption, str) and caption.strip():
            # Her words travel with the photo: answer them (a danger word must not be lost).
            metadata = {"attachment": kind}
            return InboundMessage(self.name, sender, _clean(caption), message_id=message_id, metadata=metadata), ""
        return InboundMessage(self.name, sender, "", message_id=message_id, unsupported=kind), ""

    def _pressed(self, update: Update, message_id: str) -> tuple[InboundMessage | None, str]:
        query = update.callback_query
        assert query is not None
        if isinstance(query.id, str) and self._bot is not None:
            # Stops the spinner on her button; the reply itself comes as a message.
            self._hand_over.spawn(self._answer_callback(query.id))
        message = query.message
        chat = message.chat if message is not None else None
        if chat is None or not _is_int(chat.id) or chat.type != "private":
            return None, "button outside a private chat"
        data = query.data
        if not isinstance(data, str) or not data:
            return None, "button without data"
        payload = self._callbacks.decode(data)
        if payload is None:
            payload = _button_title(message, data)
        if payload is None:
            return None, "button no longer known"
        return InboundMessage(self.name, str(chat.id), _clean(payload), message_id=message_id), ""

    async def _deliver(self, message: InboundMessage, shown: int | None) -> None:
        if shown is not None:
            # Her own message too: in a private chat a quick exit can delete it for both sides.
            await self._remember(message.sender, shown)
        try:
            await self._on_message(message)
        except Exception as exc:  # the router keeps her message itself; this only keeps the task quiet
            _log(logging.ERROR, f"message handler failed ({type(exc).__name__})", "telegram_handler_error")

    async def _answer_callback(self, query_id: str) -> None:
        bot = self._bot
        if bot is None:
            return
        try:
            await bot.answer_callback_query(query_id)
        except Exception as exc:  # a spinner left turning is harmless
            _log(logging.DEBUG, f"answerCallbackQuery failed ({type(exc).__name__})", "telegram_callback_unanswered")

    # Outbound

    async def _send(self, address: str, message: OutboundMessage) -> None:
        bot = self._require_bot()
        chat_id = _chat_id(address)
        if (message.custom or {}).get("maak") == "quick_exit":
            await self._quick_exit(bot, chat_id, address)
            return
        if not message.text.strip() and not message.buttons:
            return  # a control this channel does not act on
        pieces = split_text(message.text) or [BUTTONS_ONLY_TEXT]
        markup = self._keyboard(message.buttons) if message.buttons else None
        for index, piece in enumerate(pieces):
            # The buttons go under the last piece, where she reads the question.
            sent = await self._call(
                partial(
                    bot.send_message,
                    chat_id=chat_id,
                    text=piece,
                    reply_markup=markup if index == len(pieces) - 1 else None,
                    # A preview card (a hotline's logo) would be conspicuous on her screen.
                    link_preview_options=_NO_PREVIEW,
                )
            )
            if _is_int(getattr(sent, "message_id", None)):
                await self._remember(address, sent.message_id)

    async def _remember(self, address: str, message_id: int) -> None:
        """Keep a message's id for the quick exit; the message goes on whatever happens here."""
        try:
            await self._messages.record(address, [message_id])
        except Exception as exc:
            _log(logging.WARNING, f"message id not kept ({type(exc).__name__}): a quick exit will leave it",
                 "telegram_id_not_kept")

    def _keyboard(self, buttons: Sequence[Button]) -> InlineKeyboardMarkup:
        # One button per row: titles in Arabic or French are long and must not be cut.
        return InlineKeyboardMarkup(
            [[InlineKeyboardButton(b.title, callback_data=self._callbacks.encode(b.payload))] for b in buttons]
        )

    async def _quick_exit(self, bot: Bot, chat_id: int, address: str) -> None:
        """Delete every message of her chat still deletable, hers and the bot's, and send nothing."""
        remaining = await self._messages.take(address)
        try:
            while remaining:
                batch = remaining[:DELETE_BATCH]
                await self._delete(bot, chat_id, batch)
                remaining = remaining[DELETE_BATCH:]
        except DeliveryFailed:
            # Kept, so that pressing stop again can finish the job.
            await self._messages.record(address, remaining)
            raise
        _log(logging.INFO, "quick exit: the chat's messages deleted", "telegram_quick_exit")

    async def _delete(self, bot: Bot, chat_id: int, ids: list[int]) -> None:
        try:
            await self._call(partial(bot.delete_messages, chat_id=chat_id, message_ids=ids))
            return
        except DeliveryFailed as exc:
            # A Bot API server before 7.0 (404) or a batch Telegram refuses as a whole: one by one.
            if not isinstance(exc.__cause__, (BadRequest, InvalidToken, EndPointNotFound)):
                raise
        for message_id in ids:
            try:
                await self._call(partial(bot.delete_message, chat_id=chat_id, message_id=message_id))
            except DeliveryFailed as exc:
                # Already deleted by her, or too old: nothing left to hide.
                if not isinstance(exc.__cause__, BadRequest):
                    raise

    async def _call(self, request: Callable[[], Awaitable[T]]) -> T:
        """One Bot API call with bounded retries; DeliveryFailed with a short reason otherwise."""

        async def once(seconds_left: float) -> T:
            try:
                return await request()
            except RetryAfter as exc:
                raise RetryLater("telegram: rate limited by Telegram", _retry_seconds(exc)) from exc
            except Forbidden as exc:
                raise DeliveryFailed(f"telegram: forbidden ({_description(exc)})") from exc
            except BadRequest as exc:  # before NetworkError: it is one in PTB
                raise DeliveryFailed(f"telegram: bad request ({_description(exc)})") from exc
            except NetworkError as exc:  # TimedOut, connection errors, 5xx
                raise RetryLater("telegram: Telegram unreachable") from exc
            except TelegramError as exc:
                raise DeliveryFailed(f"telegram: {type(exc).__name__}") from exc

        return await with_retries(once, channel=self.name, attempts=self.max_attempts, backoff=self.backoff,
                                  budget_seconds=self.max_wait_seconds)

    def _require_bot(self) -> Bot:
        if self._bot is None:
            raise DeliveryFailed("telegram: channel not started")
        return self._bot

    # Set-up

    async def set_webhook(self, url: str) -> None:
        """Tell Telegram to post updates to `url`, signed with the webhook secret.

        Raises:
            ChannelError: the URL or secret is unusable, or Telegram refused.
        """
        problem = webhook_url_problem(url) or secret_token_problem(self._settings.webhook_secret)
        if problem:
            raise ChannelError(problem)
        bot = self._require_bot()
        await self._call(
            partial(
                bot.set_webhook,
                url=url,
                secret_token=self._settings.webhook_secret,
                allowed_updates=list(ALLOWED_UPDATES),
                drop_pending_updates=False,
            )
        )
        _log(logging.INFO, "webhook registered", "telegram_webhook_set")


def _command(text: str) -> str:
    """`/start` (with or without a deep-link payload) greets; `/stop@maak_bot` is `/stop`."""
    stripped = text.strip()
    if _START.match(stripped):
        # The deep-link payload is dropped: it could say where the link was shared.
        return "/greet"
    return _COMMAND_MENTION.sub(r"\1", stripped) if stripped.startswith("/") else text


def _button_title(message: Any, data: str) -> str | None:
    """The title of the button carrying `data` in the message she pressed it on."""
    markup = getattr(message, "reply_markup", None)
    rows = getattr(markup, "inline_keyboard", None) or ()
    for row in rows:
        for button in row if isinstance(row, (list, tuple)) else ():
            if getattr(button, "callback_data", None) == data and isinstance(button.text, str):
                return button.text
    return None


def _chat_id(address: str) -> int:
    try:
        return int(address)
    except ValueError:
        raise DeliveryFailed("telegram: address is not a chat id") from None


def _retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        # PTB 22 warns that `retry_after` becomes a timedelta; both are read here.
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _description(exc: TelegramError) -> str:
    """Telegram's error description, short (it names the problem, never her words)."""
    return exc.message.removeprefix("Forbidden: ").removeprefix("Bad Request: ")[:100]
