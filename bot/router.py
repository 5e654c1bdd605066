"""The router: every inbound message, whatever the channel, goes through `Router.handle`.

Pseudonymise → is a counsellor talking with her? relay to the case : send to Rasa and deliver its
replies. If Rasa cannot answer, the message is kept in a case for a human, and danger found by the
lexicon still opens an urgent case with the emergency numbers.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, Mapping

from bot.privacy import Cipher, conversation_id
from bot.rasa_client import RasaClient, RasaUnavailable
from bot.retention import Eraser
from bot.store import Store
from bot.texts import DEFAULT_LANG, Texts
from channels.base import Channel, DeliveryFailed, InboundMessage, OutboundMessage
from facts import LANGS
from handoff.cases import CaseQueue
from nlu.commands import command
from nlu.danger import is_urgent
from nlu.langid import identify

logger = logging.getLogger(__name__)

# Control characters (but not newlines and tabs) and non-characters are dropped from her text.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")
QUICK_EXIT = {"maak": "quick_exit"}


def clean_text(text: str) -> str:
    return _CONTROL.sub("", text).strip()


class Router:
    """Routes her messages to Rasa or to her counsellor, and delivers every reply on her channel."""

    def __init__(
        self,
        *,
        secret: bytes,
        store: Store,
        cipher: Cipher,
        queue: CaseQueue,
        rasa: RasaClient,
        eraser: Eraser,
        texts: Texts,
        channels: Mapping[str, Channel],
        max_text_chars: int,
    ) -> None:
        self._secret = secret
        self._store = store
        self._cipher = cipher
        self._queue = queue
        self._rasa = rasa
        self._eraser = eraser
        self._texts = texts
        self._channels = channels
        self._max_chars = max_text_chars
        # One message at a time per conversation, so her messages and the replies keep their order.
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._told_position: dict[str, int] = {}

    async def handle(self, message: InboundMessage) -> None:
        """Handle one message from her; never raises, never drops it."""
        conv = conversation_id(self._secret, message.channel, message.sender)
        lock, users = self._locks.get(conv, (asyncio.Lock(), 0))
        self._locks[conv] = (lock, users + 1)
        try:
            async with lock:
                await self._handle(conv, message)
        except Exception:
            logger.exception("message handling failed", extra={"event": "router_error", "channel": message.channel})
            await self._keep_for_a_human(conv, message, clean_text(message.text), DEFAULT_LANG)
        finally:
            # The lock goes when no message of hers is waiting for it, so the dict does not grow.
            lock, users = self._locks[conv]
            if users == 1:
                del self._locks[conv]
            else:
                self._locks[conv] = (lock, users - 1)

    async def _handle(self, conv: str, message: InboundMessage) -> None:
        channel = self._channels[message.channel]
        known_lang = await self._store.run(
            self._store.touch_contact, conv, message.channel, self._cipher.encrypt(message.sender)
        )
        text = clean_text(message.text)
        lang = await self._language(conv, text, known_lang, message.metadata.get("lang"))
        logger.info("message received", extra={"event": "inbound", "channel": message.channel, "chars": len(text)})

        if message.unsupported:
            await self._say(channel, message.sender, self._texts.get("not_text", lang))
            return
        if not text:
            await self._say(channel, message.sender, self._texts.get("empty_message", lang))
            return

        case = await self._queue.open_case_for(conv)
        if case and (case["status"] == "claimed" or case["intake_done"]):
            await self._relay(conv, message, channel, case, text, lang)
            return
        if case:
            await self._queue.append(case, "user", text)

        try:
            # The language goes along so that an ambiguous "ok" keeps the conversation's language.
            replies = await self._rasa.send(conv, text[: self._max_chars], {"channel": message.channel, "lang": lang})
        except RasaUnavailable as exc:
            logger.warning("Rasa unavailable: %s", exc, extra={"event": "rasa_unavailable"})
            await self._keep_for_a_human(conv, message, text, lang, already_kept=case is not None)
            return

        if len(text) > self._max_chars:
            await self._say(channel, message.sender, self._texts.get("too_long", lang))
        forget = False
        for reply in replies:
            control = (reply.custom or {}).get("maak")
            if control == "forget":
                forget = True
                continue
            await self._say(channel, message.sender, reply)
            if case and reply.text:
                await self._queue.append(case, "bot", reply.text)
        if forget:
            await self._store.run(self._eraser.erase, conv)
            self._told_position.pop(conv, None)

    async def _relay(
        self, conv: str, message: InboundMessage, channel: Channel, case: dict[str, Any], text: str, lang: str
    ) -> None:
        """A counsellor has her case: her words go to the case; only the safety commands answer."""
        wanted = command(text)
        if wanted == "forget_me":
            await self._say(channel, message.sender, self._texts.get("forgotten", lang))
            await self._store.run(self._eraser.erase, conv)
            self._told_position.pop(conv, None)
            return
        await self._queue.append(case, "user", text)
        if wanted == "stop":
            await self._say(channel, message.sender, self._texts.get("stopped", lang))
            await self._say(channel, message.sender, OutboundMessage(custom=QUICK_EXIT))
        elif wanted == "ask_emergency_numbers":
            await self._say(channel, message.sender, self._texts.get("numbers", lang))
        elif case["status"] == "queued":
            position = await self._queue.position(case)
            if self._told_position.get(conv) != position:
                self._told_position[conv] = position
                await self._say(channel, message.sender, self._texts.get("handoff_waiting", lang, position=position))

    async def _keep_for_a_human(
        self, conv: str, message: InboundMessage, text: str, lang: str, already_kept: bool = False
    ) -> None:
        """Rasa (or the router) failed: keep her message in a case and answer honestly."""
        urgent = is_urgent(None, text)
        try:
            case = await self._queue.open_case(
                conv,
                channel=message.channel,
                priority="urgent" if urgent else "normal",
                lang=lang,
                category="danger" if urgent else "unanswered",
                danger=urgent,
            )
            if text and not already_kept:
                await self._queue.append(case, "user", text)
        except Exception:
            logger.exception("could not keep a message for a human", extra={"event": "keep_failed"})
        channel = self._channels.get(message.channel)
        if channel is not None:
            await self._say(channel, message.sender, self._texts.get("urgent_fallback" if urgent else "unavailable_kept", lang))

    async def _language(self, conv: str, text: str, known: str | None, hint: str | None) -> str:
        """Her language: this message's if clear, else the last one seen, else the page's language.

        `hint` is what the channel knows (the web page's chosen language); it only breaks a tie.
        """
        guess = identify(text) if text else None
        if guess is not None and guess.reliable:
            lang = guess.tag
        else:
            lang = known or (hint if hint in LANGS else None) or (guess.tag if guess and text else DEFAULT_LANG)
        if lang != known:
            await self._store.run(self._store.set_contact_lang, conv, lang)
        return lang

    async def _say(self, channel: Channel, address: str, reply: OutboundMessage | str) -> None:
        message = OutboundMessage(text=reply) if isinstance(reply, str) else reply
        try:
            await channel.send(address, message)
        except DeliveryFailed as exc:
            logger.error("delivery failed: %s", exc, extra={"event": "delivery_failed", "channel": channel.name})
