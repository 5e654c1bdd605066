"""WhatsApp through Meta's Cloud API: the signed webhook in, the Graph `messages` endpoint out.

Inbound: Meta's webhook is verified (HMAC-SHA256 of the raw body with the app secret) before
anything is parsed, then read leniently: whatever the shape, nothing crashes and every
well-formed message of the batch reaches `on_message`. Outbound: text, reply buttons, a list,
or numbered text when WhatsApp's limits do not allow buttons. Phone numbers and texts are never
logged; only event names, HTTP statuses and Graph error codes are.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import partial
from typing import Any, Iterator, Sequence

import aiohttp
from aiohttp import web

from channels.base import (
    Button,
    Channel,
    DeliveryFailed,
    InboundMessage,
    OnMessage,
    OnUndelivered,
    OutboundMessage,
)
from channels.numbered_menus import MemoryNumberedMenus, NumberedMenus
from channels.webhook import HandOver, RetryLater, read_at_most, read_capped, split_text, unread, with_retries
from core.settings import WhatsAppSettings

logger = logging.getLogger(__name__)


WEBHOOK_PATH = "/webhooks/whatsapp"

# WhatsApp's documented limits for the messages endpoint.
TEXT_LIMIT = 4096
INTERACTIVE_BODY_LIMIT = 1024
MAX_REPLY_BUTTONS = 3
REPLY_TITLE_LIMIT = 20
REPLY_ID_LIMIT = 256
MAX_LIST_ROWS = 10
ROW_TITLE_LIMIT = 24
ROW_DESCRIPTION_LIMIT = 72
ROW_ID_LIMIT = 200

OUTSIDE_WINDOW = "outside the 24-hour window"
# The `biz_opaque_callback_data` of a stored message (Graph allows 512 characters).
SEQ_DATA = "maak-seq:{}"
_SEQ_DATA = re.compile(r"^maak-seq:([0-9]{1,18})$")
# Graph error codes: 131047 = more than 24 hours since her last message (re-engagement).
REENGAGEMENT_ERROR = 131047
# Rate limits and temporary outages that Graph reports with a 4xx status: worth another try.
TRANSIENT_ERRORS = frozenset({4, 80007, 130429, 131016, 131056, 133004})

# The list button label: the channel does not know her language, but it sees the script of the
# text it sends; "Menu" reads the same in French, English and Darija in Latin letters.
LIST_LABEL_ARABIC = "القائمة"
LIST_LABEL_LATIN = "Menu"
# An interactive message needs a body; used only when the reply has buttons and no text.
EMPTY_BODY = "…"

_ARABIC = re.compile(r"[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]")
# Phone numbers (wa_id) are digits; leave room for Meta's newer user ids, refuse anything else.
_ADDRESS = re.compile(r"^[A-Za-z0-9._+-]{1,64}$")
_KIND = re.compile(r"^[a-z_]{1,32}$")
# Meta sends a number; echo only harmless tokens so the endpoint cannot reflect markup.
_CHALLENGE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
# Notices from WhatsApp itself (e.g. she changed number), not messages from her.
_IGNORED_KINDS = frozenset({"system"})
# Media that may carry a caption: her words in it are read like a text.
_CAPTIONED = frozenset({"image", "video", "document"})


def _items(container: Any, key: str) -> list[Any]:
    """`container[key]` when it is a list, else nothing: the payload is read leniently."""
    if isinstance(container, dict):
        value = container.get(key)
        if isinstance(value, list):
            return value
    return []


def _field(container: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(container, dict):
            return None
        container = container.get(key)
    return container


def _first_text(*values: Any) -> str | None:
    return next((v for v in values if isinstance(v, str) and v), None)


def _event(event: str) -> dict[str, str]:
    """`extra` for a log line: the event and the channel, never anything about her."""
    return {"event": event, "channel": "whatsapp"}


def parse_message(raw: Any) -> InboundMessage | None:
    """One element of `value.messages` as an `InboundMessage`, or None when it is not hers."""
    if not isinstance(raw, dict):
        return None
    sender = raw.get("from")
    if not isinstance(sender, str) or not _ADDRESS.match(sender):
        return None  # no address to answer: nothing can be done with it
    wamid = raw.get("id")
    message_id = wamid if isinstance(wamid, str) and 0 < len(wamid) <= 512 else None
    kind = raw.get("type")
    if not isinstance(kind, str):
        kind = None
    if kind in _IGNORED_KINDS:
        return None
    text: str | None = None
    if kind == "text":
        body = _field(raw, "text", "body")
        text = body if isinstance(body, str) else ""
    elif kind == "interactive":
        interactive = raw.get("interactive")
        reply_kind = _field(interactive, "type")
        if reply_kind in ("button_reply", "list_reply"):
            reply = _field(interactive, reply_kind)
            # The id is the payload we sent; the title is her language's label, a fallback only.
            text = _first_text(_field(reply, "id"), _field(reply, "title"))
    elif kind == "button":
        # A quick-reply button of a template: its payload is ours, its text is the label.
        text = _first_text(_field(raw, "button", "payload"), _field(raw, "button", "text"))
    elif kind in _CAPTIONED:
        caption = _field(raw, kind, "caption")
        if isinstance(caption, str) and caption.strip():
            # Her words travel with the photo: answer them (a danger word must not be lost).
            return InboundMessage("whatsapp", sender, caption, message_id=message_id, metadata={"attachment": kind})
    if text is None:
        unsupported = kind if kind and _KIND.match(kind) else "unknown"
        return InboundMessage("whatsapp", sender, "", message_id=message_id, unsupported=unsupported)
    return InboundMessage("whatsapp", sender, text, message_id=message_id)


@dataclass
class Notification:
    """What one webhook POST holds for this number: her messages, and ours that failed after all."""

    messages: list[InboundMessage] = field(default_factory=list)
    # (seq, reason) of the stored messages Graph accepted and then could not deliver.
    undelivered: list[tuple[int, str]] = field(default_factory=list)


def parse_payload(payload: Any, phone_number_id: str) -> Notification:
    """Every message from her in one webhook notification, in order; malformed parts are skipped."""
    found = Notification()
    messages = found.messages
    for entry in _items(payload, "entry"):
        for change in _items(entry, "changes"):
            if not isinstance(change, dict):
                continue
            topic = change.get("field")
            if topic is not None and topic != "messages":
                continue
            value = change.get("value")
            number = _field(value, "metadata", "phone_number_id")
            if number is not None and not (isinstance(number, (str, int)) and str(number) == phone_number_id):
                # Another number of the same business account: our number must not answer it.
                logger.warning("message for another phone number ignored", extra=_event("whatsapp_other_number"))
                continue
            for status in _items(value, "statuses"):
                failure = _failed_status(status)
                if failure is not None:
                    found.undelivered.append(failure)
            for raw in _items(value, "messages"):
                try:
                    message = parse_message(raw)
                except Exception as exc:  # one odd message must not cost the others of the batch
                    logger.error("message skipped: %s", type(exc).__name__, extra=_event("whatsapp_parse_error"))
                    continue
                if message is not None:
                    messages.append(message)
    return found


def _failed_status(status: Any) -> tuple[int, str] | None:
    """A message accepted by Graph and then not delivered (e.g. 131047 reported later).

    Logged with its code only; returned as (seq, reason) when it carried a stored message's `seq`.
    """
    if _field(status, "status") != "failed":
        return None
    errors = _items(status, "errors")
    code = errors[0].get("code") if errors and isinstance(errors[0], dict) else None
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    logger.warning(
        "a message to her was not delivered (error %s)", "?" if code is None else code,
        extra=_event("whatsapp_status_failed"),
    )
    data = _field(status, "biz_opaque_callback_data")
    match = _SEQ_DATA.match(data) if isinstance(data, str) else None
    if match is None:
        return None
    reason = OUTSIDE_WINDOW if code == REENGAGEMENT_ERROR else f"not delivered (error {'?' if code is None else code})"
    return int(match.group(1)), reason


def _split_tail(text: str, limit: int) -> tuple[str, str]:
    """(`lead`, `tail`): the tail, at most `limit` characters, carries the buttons."""
    if len(text) <= limit:
        return "", text
    start = len(text) - limit
    for separator in ("\n", " "):
        cut = text.find(separator, start - 1)
        if 0 <= cut < len(text) - 1 and cut - start < limit // 2:
            return text[:cut], text[cut + 1 :]
    return text[:start], text[start:]


def _usable(buttons: Sequence[Button], title_limit: int, id_limit: int) -> bool:
    titles = [b.title.strip() for b in buttons]
    payloads = [b.payload for b in buttons]
    return (
        all(0 < len(t) <= title_limit and "\n" not in t for t in titles)
        and all(0 < len(p) <= id_limit for p in payloads)
        # WhatsApp refuses duplicate titles or ids within one message.
        and len(set(titles)) == len(titles)
        and len(set(payloads)) == len(payloads)
    )


def _row_title(title: str) -> str:
    title = title.strip()
    return title if len(title) <= ROW_TITLE_LIMIT else title[: ROW_TITLE_LIMIT - 1].rstrip() + "…"


def _row(button: Button) -> dict[str, str]:
    """A list row; a title too long for a row is shortened there and given whole as its description."""
    row = {"id": button.payload, "title": _row_title(button.title)}
    if row["title"] != button.title.strip():
        row["description"] = button.title.strip()
    return row


def _list_label(text: str) -> str:
    return LIST_LABEL_ARABIC if _ARABIC.search(text) else LIST_LABEL_LATIN


def build_requests(address: str, message: OutboundMessage) -> list[dict[str, Any]]:
    """The Graph `messages` request bodies for one outbound message, in sending order."""
    requests = _bodies(address, message)
    if message.seq is not None:
        # Graph echoes it in the status webhook: a failure reported later finds its stored message.
        for request in requests:
            request["biz_opaque_callback_data"] = SEQ_DATA.format(message.seq)
    return requests


def _text_request(address: str, body: str) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": address,
        "type": "text",
        "text": {"body": body, "preview_url": False},
    }


def _bodies(address: str, message: OutboundMessage) -> list[dict[str, Any]]:
    text_request = partial(_text_request, address)
    text = message.text
    buttons = list(message.buttons)
    if not buttons:
        return [text_request(piece) for piece in split_text(text, TEXT_LIMIT)]
    if len(buttons) <= MAX_REPLY_BUTTONS and _usable(buttons, REPLY_TITLE_LIMIT, REPLY_ID_LIMIT):
        action: dict[str, Any] = {
            "buttons": [{"type": "reply", "reply": {"id": b.payload, "title": b.title.strip()}} for b in buttons]
        }
        kind = "button"
    elif len(buttons) <= MAX_LIST_ROWS and _usable(buttons, ROW_DESCRIPTION_LIMIT, ROW_ID_LIMIT) and (
        len({_row_title(b.title) for b in buttons}) == len(buttons)
    ):
        action = {
            "button": _list_label(text),
            "sections": [{"rows": [_row(b) for b in buttons]}],
        }
        kind = "list"
    else:
        # Too many choices or labels too long for WhatsApp: she reads them as a numbered list.
        numbered = "\n".join(f"{i}. {b.title.strip()}" for i, b in enumerate(buttons, 1))
        full = f"{text.rstrip()}\n\n{numbered}" if text.strip() else numbered
        return [text_request(piece) for piece in split_text(full, TEXT_LIMIT)]
    lead, tail = _split_tail(text, INTERACTIVE_BODY_LIMIT)
    requests = [text_request(piece) for piece in split_text(lead, TEXT_LIMIT)] if lead.strip() else []
    requests.append(
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": address,
            "type": "interactive",
            "interactive": {"type": kind, "body": {"text": tail if tail.strip() else EMPTY_BODY}, "action": action},
        }
    )
    return requests


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (only the number form: Graph does not send dates)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None  # a wait past the budget makes the send give up


async def _graph_error_code(response: aiohttp.ClientResponse) -> int | None:
    """`error.code` of a Graph error body; its message is never kept (it may quote her number)."""
    try:
        body = json.loads(await read_at_most(response.content, 64 * 1024) or b"")
    except (ValueError, RecursionError, aiohttp.ClientError, asyncio.TimeoutError):
        return None
    code = _field(body, "error", "code")
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    return code if isinstance(code, int) and not isinstance(code, bool) else None


class WhatsAppChannel(Channel):
    """Meta's WhatsApp Cloud API: the webhook at /webhooks/whatsapp, replies through Graph."""

    name = "whatsapp"
    service_window = timedelta(hours=24)

    # Delivery retries: attempts in all, first backoff, and a bound on the whole send.
    attempts = 3
    backoff_seconds = 0.5
    budget_seconds = 10.0
    request_timeout_seconds = 5.0
    # How long `close` waits for messages already handed to `on_message`.
    close_timeout_seconds = 30.0

    def __init__(
        self,
        settings: WhatsAppSettings,
        on_message: OnMessage,
        on_undelivered: OnUndelivered | None = None,
        numbered_menus: NumberedMenus | None = None,
    ) -> None:
        self._settings = settings
        self._on_message = on_message
        self._on_undelivered = on_undelivered
        # Menus sent as numbered text, to read her "2" back as that choice.
        self._numbered: NumberedMenus = numbered_menus or MemoryNumberedMenus()
        self._session: aiohttp.ClientSession | None = None
        self._hand_over = HandOver(self.name, self.close_timeout_seconds)

    @property
    def _messages_url(self) -> str:
        return f"{self._settings.api_base.rstrip('/')}/{self._settings.phone_number_id}/messages"

    def attach(self, app: web.Application) -> None:
        app.router.add_get(WEBHOOK_PATH, self._verify)
        app.router.add_post(WEBHOOK_PATH, self._webhook)

    async def start(self) -> None:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self.request_timeout_seconds)
            self._session = aiohttp.ClientSession(timeout=timeout)
        self._hand_over.open()

    async def drain(self) -> None:
        """Wait until every message handed to `on_message` so far has been handled."""
        await self._hand_over.drain()

    async def close(self) -> None:
        await self._hand_over.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def forget(self, address: str) -> None:
        await self._numbered.forget(address)

    # Inbound

    async def _verify(self, request: web.Request) -> web.Response:
        """Meta's subscription handshake: echo `hub.challenge` when the verify token matches."""
        mode = request.query.get("hub.mode")
        token = request.query.get("hub.verify_token", "")
        challenge = request.query.get("hub.challenge", "")
        expected = self._settings.verify_token.encode()
        if mode != "subscribe" or not hmac.compare_digest(token.encode("utf-8", "replace"), expected):
            logger.warning("webhook verification refused", extra=_event("whatsapp_verify_refused"))
            return web.Response(status=403, text="forbidden")
        if not _CHALLENGE.match(challenge):
            return web.Response(status=400, text="bad challenge")
        logger.info("webhook verified", extra=_event("whatsapp_verified"))
        return web.Response(text=challenge, content_type="text/plain", headers={"X-Content-Type-Options": "nosniff"})

    async def _webhook(self, request: web.Request) -> web.Response:
        if self._hand_over.busy:
            return unread(503, "busy")  # Meta delivers it again later
        signature = request.headers.get("X-Hub-Signature-256", "")
        if not signature.startswith("sha256="):
            logger.warning("unsigned webhook refused", extra=_event("whatsapp_unsigned"))
            return web.Response(status=401, text="signature required")
        body = await read_capped(request)
        if body is None:
            logger.warning("oversized webhook refused", extra=_event("whatsapp_too_large"))
            return unread(413, "too large")
        expected = hmac.new(self._settings.app_secret.encode(), body, hashlib.sha256).hexdigest().encode()
        given = signature[len("sha256=") :].strip().lower().encode("utf-8", "replace")
        if not hmac.compare_digest(expected, given):
            logger.warning("badly signed webhook refused", extra=_event("whatsapp_bad_signature"))
            return web.Response(status=403, text="bad signature")
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            logger.warning("signed webhook is not JSON", extra=_event("whatsapp_not_json"))
            return web.Response(status=400, text="not json")
        try:
            found = parse_payload(payload, self._settings.phone_number_id)
        except Exception as exc:  # a bug must not make Meta hammer us with retries of the batch
            logger.error("webhook unreadable: %s", type(exc).__name__, extra=_event("whatsapp_parse_error"))
            return web.Response(text="ok")
        for batch in self._by_sender(found.messages):
            self._hand_over.spawn(self._handle(batch))
        if found.undelivered and self._on_undelivered is not None:
            self._hand_over.spawn(self._report(found.undelivered))
        return web.Response(text="ok")

    async def _report(self, undelivered: list[tuple[int, str]]) -> None:
        assert self._on_undelivered is not None
        for seq, reason in undelivered:
            try:
                await self._on_undelivered(seq, reason)
            except Exception as exc:  # one report must not cost the others
                logger.error("undelivered message not recorded: %s", type(exc).__name__,
                             extra=_event("whatsapp_report_error"))

    @staticmethod
    def _by_sender(messages: list[InboundMessage]) -> Iterator[list[InboundMessage]]:
        """Her messages of one batch stay in order; different women are handled side by side."""
        batches: dict[str, list[InboundMessage]] = {}
        for message in messages:
            batches.setdefault(message.sender, []).append(message)
        return iter(batches.values())

    async def _handle(self, messages: list[InboundMessage]) -> None:
        for message in messages:
            try:
                await self._on_message(await self._choice(message))
            except Exception as exc:  # the router keeps its own failures; this only guards the next one
                logger.error("message handling failed: %s", type(exc).__name__, extra=_event("whatsapp_handler_error"))

    # Outbound

    async def _send(self, address: str, message: OutboundMessage) -> None:
        # Custom instructions (quick exit) have nothing to act on in WhatsApp: only text goes out.
        requests = build_requests(address, message)
        for request in requests:
            await self._post(request)
        try:
            if message.buttons and all(r["type"] == "text" for r in requests):
                await self._numbered.remember(address, [b.payload for b in message.buttons])
            elif message.buttons or message.text:
                await self._numbered.forget(address)
        except Exception as exc:  # sent all the same; her number will be read as a text
            logger.warning("numbered menu not kept: %s", type(exc).__name__, extra=_event("whatsapp_menu_not_kept"))

    async def _choice(self, message: InboundMessage) -> InboundMessage:
        """Her answer "2" to a menu sent as numbered text is the second choice's payload."""
        number = message.text.strip()
        if not (number.isdigit() and len(number) <= 2):
            return message
        try:
            options = await self._numbered.get(message.sender)
        except Exception as exc:  # read as a text then: the bot asks again
            logger.warning("numbered menu unavailable: %s", type(exc).__name__, extra=_event("whatsapp_menu_unavailable"))
            return message
        if options and 1 <= int(number) <= len(options):
            return replace(message, text=options[int(number) - 1])
        return message

    async def _post(self, body: dict[str, Any]) -> None:
        if self._session is None or self._session.closed:
            raise DeliveryFailed("whatsapp channel not started")
        session = self._session
        headers = {"Authorization": f"Bearer {self._settings.access_token}"}

        async def once(seconds_left: float) -> None:
            seconds = min(self.request_timeout_seconds, seconds_left)
            try:
                async with session.post(
                    self._messages_url, json=body, headers=headers, timeout=aiohttp.ClientTimeout(total=seconds)
                ) as response:
                    if 200 <= response.status < 300:
                        return
                    status = response.status
                    code = await _graph_error_code(response)
                    retry_after = _retry_after(response.headers.get("Retry-After"))
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                # Retried although a timed-out message may have gone out: a repeat beats a loss.
                raise RetryLater(f"unreachable ({type(exc).__name__})") from exc
            if code == REENGAGEMENT_ERROR:
                raise DeliveryFailed(OUTSIDE_WINDOW)
            detail = f"HTTP {status}" + (f", error {code}" if code is not None else "")
            if status == 429 or code in TRANSIENT_ERRORS:
                raise RetryLater(f"rate limited ({detail})", retry_after)
            if status >= 500:
                raise RetryLater(f"server error ({detail})", retry_after)
            raise DeliveryFailed(f"refused ({detail})")

        backoff = [self.backoff_seconds * 2**attempt for attempt in range(self.attempts)]
        await with_retries(once, channel=self.name, attempts=self.attempts, backoff=backoff,
                           budget_seconds=self.budget_seconds)
