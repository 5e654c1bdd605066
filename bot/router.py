"""The router: every inbound message, whatever the channel, goes through `Router.handle`.

Pseudonymise → is a counsellor talking with her? relay to the case : send to Rasa and deliver its
replies. Danger read in her words (`nlu.danger.assess`) opens her urgent case first thing, so
counsellors see it at once whatever the load on the store and on Rasa. If Rasa cannot answer (for
danger: within `URGENT_WAIT_SECONDS`), the message is kept in a case for a human and she gets the
emergency numbers. Her choice of a callback window (a button the bot offers when no counsellor is
online) is recorded on her case by the router itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re

from bot.dedupe import Dedupe
from bot.notices import CaseNotices
from bot.outbox import Outbox
from bot.rasa_client import RasaClient, RasaUnavailable
from bot.ratelimit import RateLimiter
from bot.retention import Eraser
from bot.texts import Texts
from channels.base import InboundMessage, OutboundMessage
from core.languages import DEFAULT_LANG, LANGS
from core.locks import KeyedLocks
from core.privacy import Cipher, conversation_id
from core.store import Store
from handoff.callback import NONE, STOPPED, callback_windows
from handoff.cases import Case, CaseQueue
from nlu.commands import command
from nlu.danger import NOTHING, assess
from nlu.langid import LangGuess, identify

logger = logging.getLogger(__name__)

# Control characters (but not newlines and tabs) and non-characters are dropped from her text.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")
QUICK_EXIT = {"maak": "quick_exit"}
# No words, only a sign that her message reached a human: the web chat stops its "typing" dots.
RECEIVED = {"maak": "received"}
# Beyond this many of her messages waiting their turn, the rest are kept for a human unread by the bot.
MAX_WAITING = 100
FLOODED = "flooded:"
# How long her danger message waits for Rasa's reply (the numbers, her place in line) before the
# gateway gives her the numbers itself: a busy or stuck Rasa must not keep them from her.
URGENT_WAIT_SECONDS = 8.0
# The payload of the callback-window buttons (domain.yml, utter_handoff_offline).
_CALLBACK = re.compile(r'^/callback_window(\{.*\})$')


def callback_window(text: str) -> str | None:
    """The window chosen by a callback button's payload, or None if the text is not one."""
    match = _CALLBACK.match(text)
    if not match:
        return None
    try:
        window = json.loads(match.group(1)).get("window")
    except (ValueError, AttributeError):
        return None
    return window if window in callback_windows().choices else None


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
        outbox: Outbox,
        notices: CaseNotices,
        dedupe: Dedupe,
        limiter: RateLimiter,
        max_text_chars: int,
        urgent_wait: float = URGENT_WAIT_SECONDS,
    ) -> None:
        self._secret = secret
        self._store = store
        self._cipher = cipher
        self._queue = queue
        self._rasa = rasa
        self._eraser = eraser
        self._texts = texts
        self._outbox = outbox
        self._notices = notices
        self._dedupe = dedupe
        self._limiter = limiter
        self._max_chars = max_text_chars
        self._urgent_wait = urgent_wait
        # One message at a time per conversation, so her messages and the replies keep their order.
        self._locks = KeyedLocks()

    async def handle(self, message: InboundMessage) -> None:
        """Handle one message from her; never raises, never drops it."""
        conv = conversation_id(self._secret, message.channel, message.sender)
        if message.message_id and not await self._dedupe.first_time(message.channel, message.message_id):
            logger.info("redelivered message ignored", extra={"event": "duplicate", "channel": message.channel})
            return
        flooded = self._locks.waiting(conv) >= MAX_WAITING
        try:
            # Past the line, a message is kept for a human at once, in a line of its own: behind
            # the ones the bot paces it would hold its text in memory for minutes.
            async with self._locks.hold(FLOODED + conv if flooded else conv):
                if flooded:
                    await self._keep_unread(conv, message)
                else:
                    await self._pace(conv, message)
                    await self._handle(conv, message)
        except Exception:
            logger.exception("message handling failed", extra={"event": "router_error", "channel": message.channel})
            await self._keep_for_a_human(conv, message, clean_text(message.text), DEFAULT_LANG)

    async def warm(self) -> None:
        """Load what her first message needs (language, danger and command models; the queue's
        queries), so that the first urgent case after a start opens as fast as the next ones."""
        sample = "salam 3afak"
        await asyncio.to_thread(lambda: (identify(sample), assess(sample), command(sample)))
        await self._queue.list("queued")

    async def resume(self, channel: str, sender: str, seen: int) -> None:
        """Her chat reconnected: what a counsellor wrote while she was away reaches her now."""
        await self._notices.resend_missed(conversation_id(self._secret, channel, sender), seen)

    async def _pace(self, conv: str, message: InboundMessage) -> None:
        """Past the rate limit, her message waits for the next window; she is told once, kindly."""
        count, wait = await self._limiter.hit(conv)
        if count <= self._limiter.limit:
            return
        if count == self._limiter.limit + 1:
            logger.warning("rate limited", extra={"event": "rate_limited", "channel": message.channel})
            await self._say(message, self._texts.get("rate_limited", await self._outbox.language_of(conv)))
        await asyncio.sleep(wait)

    async def _keep_unread(self, conv: str, message: InboundMessage) -> None:
        """A flood: keep the message on her case for a human, without spending the bot on it."""
        text = clean_text(message.text)
        case = await self._queue.open_case(conv, channel=message.channel, priority="normal", category="unanswered")
        if text:
            await self._queue.keep(case, "user", text)

    async def _handle(self, conv: str, message: InboundMessage) -> None:
        text = clean_text(message.text)
        guess = identify(text) if text else None
        clear = guess.tag if guess is not None and guess.reliable else None
        window = callback_window(text)
        decision = NOTHING if window else assess(text)
        # Danger she wrote while no counsellor was with her: whatever path her message takes, she gets the numbers.
        danger_alone = False
        if decision.urgent:
            # Danger in her words: counsellors see her case before anything else is done for her,
            # whatever the load on the store and on Rasa.
            opened = await self._queue.open_case(
                conv, channel=message.channel, priority="urgent", danger=True,
                category="self_harm" if decision.self_harm else "danger",
                lang=clear or message.metadata.get("lang") or (guess.tag if guess else None),
                summary=text, keep_summary=True,
            )
            danger_alone = opened.status != "claimed"
        known_lang = await self._store.run(
            self._store.touch_contact, conv, message.channel, self._cipher.encrypt(message.sender), clear
        )
        lang = clear or await self._language(conv, guess, known_lang, message.metadata.get("lang"))
        logger.info("message received", extra={"event": "inbound", "channel": message.channel, "chars": len(text)})

        if message.unsupported:
            await self._say(message, self._texts.get("not_text", lang))
            return
        if not text:
            await self._say(message, self._texts.get("empty_message", lang))
            return

        wanted = command(text)
        case = await self._queue.open_case_for(conv)
        if case is not None:
            case = await self._mark_presence(case, decision.interruption or wanted == "stop")
        if window is not None:
            if case is not None:
                await self._queue.update(case.id, callback_window=window)
            await self._say(message, self._texts.get(f"callback_{'declined' if window == 'none' else 'noted'}", lang))
            return
        if case and (case.status == "claimed" or case.intake_done):
            # A counsellor may have claimed her case between its opening (above) and now.
            await self._relay(conv, message, case, text, lang, wanted,
                              numbers_due=danger_alone, self_harm=decision.self_harm)
            return
        if case:
            await self._queue.keep(case, "user", text)
        if message.metadata.get("limited"):
            # One of too many new conversations from one address (the web chat's limit): her
            # words are kept for a human and she gets the numbers; the bot is not spent on a flood.
            await self._keep_for_a_human(conv, message, text, lang, already_kept=case is not None, busy=True)
            return

        try:
            # The language goes along so that an ambiguous "ok" keeps the conversation's language.
            replies = await self._rasa.send(conv, text[: self._max_chars], {"channel": message.channel, "lang": lang},
                                            within=self._urgent_wait if decision.urgent else None)
        except RasaUnavailable as exc:
            logger.warning("Rasa unavailable: %s", exc, extra={"event": "rasa_unavailable"})
            await self._keep_for_a_human(conv, message, text, lang, already_kept=case is not None)
            return
        except asyncio.CancelledError:
            # The gateway is shutting down and stopped waiting for Rasa: the platform will not
            # send her message again, so it is kept for a human before the task ends.
            logger.warning("shutdown while Rasa answered", extra={"event": "rasa_cancelled"})
            await self._keep_for_a_human(conv, message, text, lang, already_kept=case is not None)
            raise
        if not replies:
            # Rasa answers an internal failure (e.g. its lock store is down) with an empty 200:
            # every turn of the dialogue says something, so silence means she was not answered.
            logger.warning("Rasa gave no reply", extra={"event": "rasa_no_reply"})
            await self._keep_for_a_human(conv, message, text, lang, already_kept=case is not None)
            return

        if len(text) > self._max_chars:
            await self._say(message, self._texts.get("too_long", lang))
        if case is None and replies:
            # A handoff during this turn opened her case: the counsellor's chat starts with this message.
            case = await self._queue.open_case_for(conv)
            if case:
                await self._queue.keep(case, "user", text)
        forget = False
        for reply in replies:
            control = (reply.custom or {}).get("maak")
            if control == "forget":
                forget = True
                continue
            await self._say(message, reply)
            if case and reply.text:
                await self._queue.keep(case, "bot", reply.text)
        if forget:
            await self._forget(conv, message, case)

    async def _relay(
        self, conv: str, message: InboundMessage, case: Case, text: str, lang: str, wanted: str | None,
        *, numbers_due: bool = False, self_harm: bool = False,
    ) -> None:
        """A counsellor has her case (or will): her words go to the case; only the safety commands answer.

        An interruption read in her words ("he's coming") reaches her counsellor as she wrote it and
        marks the case so that nobody writes first (`_mark_presence`), without the quick exit: a
        short reply misread as one ("safi") must not throw her out of the chat mid-conversation.
        The stop word is the quick exit. `wanted` is the safety command in her words, if any;
        `numbers_due`: danger in her words, written before a counsellor was with her.
        """
        if wanted == "forget_me":
            await self._say(message, self._texts.get("forgotten", lang))
            await self._forget(conv, message, case)
            return
        await self._queue.keep(case, "user", text)
        if wanted == "stop":
            await self._say(message, self._texts.get("stopped", lang))
            await self._say(message, OutboundMessage(custom=QUICK_EXIT))
            return
        numbers = wanted == "ask_emergency_numbers" or numbers_due
        if numbers:
            await self._say(message, self._texts.get("numbers", lang, self_harm=self_harm))
        if case.status == "queued":
            await self._notices.tell_position(conv, case)
        if not numbers:
            await self._say(message, OutboundMessage(custom=RECEIVED))

    async def _mark_presence(self, case: Case, stopping: bool) -> Case:
        """She had to stop (interruption, stop word) with a case open: nobody writes to her first,
        even a minute later. When she writes again the mark goes, but not back to "any time".

        Returns her case as it now stands."""
        if stopping and case.callback_window != STOPPED:
            return await self._queue.update(case.id, callback_window=STOPPED)
        if not stopping and case.callback_window == STOPPED:
            return await self._queue.update(case.id, callback_window=NONE)
        return case

    async def _forget(self, conv: str, message: InboundMessage, case: Case | None) -> None:
        """Erase the conversation, and what her channel and the rate limit keep in Redis; a
        counsellor's console drops her case at once."""
        await self._store.run(self._eraser.erase, conv)
        await self._outbox.forget(message.channel, message.sender)
        await self._limiter.forget(conv)
        if case is not None:
            await self._queue.erased(case)

    async def _keep_for_a_human(
        self, conv: str, message: InboundMessage, text: str, lang: str, already_kept: bool = False, busy: bool = False
    ) -> None:
        """Rasa (or the router) failed, or is not spent on a flood (`busy`): keep her message in a
        case and answer honestly."""
        decision = assess(text)
        urgent = decision.urgent
        try:
            case = await self._queue.open_case(
                conv,
                channel=message.channel,
                priority="urgent" if urgent else "normal",
                lang=lang,
                category=("self_harm" if decision.self_harm else "danger") if urgent else "unanswered",
                danger=urgent,
                # A new case's card starts with what she said; an open one keeps its summary.
                summary="" if already_kept else text,
            )
            if text and not already_kept:
                await self._queue.keep(case, "user", text)
        except Exception:
            logger.exception("could not keep a message for a human", extra={"event": "keep_failed"})
        kept = "busy_kept" if busy else "unavailable_kept"
        await self._say(message, self._texts.get("urgent_fallback" if urgent else kept, lang,
                                                 self_harm=decision.self_harm))

    async def _language(self, conv: str, guess: LangGuess | None, known: str | None, hint: str | None) -> str:
        """Her language when this message does not make it clear: the last one seen, else the
        channel's hint (the web page's chosen language), else the best guess."""
        lang = known or (hint if hint in LANGS else None) or (guess.tag if guess is not None else DEFAULT_LANG)
        if lang != known:
            await self._store.run(self._store.set_contact_lang, conv, lang)
        return lang

    async def _say(self, to: InboundMessage, reply: OutboundMessage | str) -> None:
        """Answer her on the channel and address her message came from."""
        await self._outbox.send(to.channel, to.sender, reply)
