"""What she is told about her case: a counsellor joined, her place in line, the wait is long, the bot is back.

When a counsellor takes her case, the bot also stops the questions it was asking her. When her web
chat comes back after a drop, what a counsellor wrote meanwhile is sent again.

`CaseNotices` listens to the case changes made on this replica. Each change happens on exactly one
replica, and the place in line she was told is recorded on the case in the database, so she hears
each piece of news once, whatever the number of gateways.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Awaitable, Callable, Collection

from bot.outbox import Outbox
from bot.rasa_client import RasaClient
from bot.texts import Texts
from core.store import utcnow
from handoff.cases import UNREADABLE, Case, CaseEvent, CaseQueue
from handoff.oncall import OnCall

logger = logging.getLogger(__name__)

# A page that comes back gets what it missed of her open case, or of one closed this recently: the
# page holds its session id in memory only, so a return later than this is not hers coming back.
REPLAY_AFTER_CLOSE = timedelta(hours=1)
REPLAY_AT_MOST = 50


class CaseNotices:
    """Tells her, on her channel and in her language, what happens to her case."""

    def __init__(
        self, queue: CaseQueue, outbox: Outbox, texts: Texts, oncall: OnCall, rasa: RasaClient,
        online: Callable[[], Awaitable[Collection[str]]],
    ) -> None:
        self._online = online
        self._queue = queue
        self._rasa = rasa
        self._outbox = outbox
        self._texts = texts
        self._oncall = oncall

    async def __call__(self, event: CaseEvent) -> None:
        case = event.case
        conv = case.conversation_id
        if event.change == "claimed":
            await self._rasa.end_questions(conv)
            await self._tell(conv, case, "handoff_joined")
        elif event.change == "closed":
            await self._tell(conv, case, "handoff_resumed")
        elif event.change == "requeued":
            await self.tell_position(conv, case)
        elif event.change == "escalated":
            await self._tell(conv, case, "handoff_escalated")
            await self._oncall.alert(case)
        elif event.change == "callback_due":
            await self._oncall.callback_due(case)
        if event.change in {"opened", "claimed", "requeued", "closed", "card"}:
            await self._positions_changed(exclude=case.id)

    async def tell_position(self, conv: str, case: Case, force: bool = False) -> None:
        """Tell her her place in line if it changed since she was last told (or always, with `force`)."""
        stored = await self._queue.get(case.id)
        if stored.status != "queued":
            return
        position = await self._queue.position(stored)
        changed = await self._queue.record_told_position(case.id, position)
        if changed or force:
            await self._tell(conv, case, await self._waiting_text(), position=position)

    async def _waiting_text(self) -> str:
        # "Soon" only when someone is there to answer; otherwise she hears that nobody is online.
        return "handoff_waiting" if await self._online() else "handoff_waiting_offline"

    async def resend_missed(self, conv: str, seen: int) -> None:
        """Her page came back after a drop: send again the counsellor messages after the last it showed.

        Her latest case, even closed for a little while (`REPLAY_AFTER_CLOSE`): a counsellor's
        last words before closing are often the next steps. At most `REPLAY_AT_MOST` messages.
        """
        case = await self._queue.last_case_for(conv)
        if case is None or (case.closed_at is not None and utcnow() - case.closed_at > REPLAY_AFTER_CLOSE):
            return
        written, earlier = await self._queue.counsellor_messages_after(case.id, seen, REPLAY_AT_MOST)
        missed = [m for m in written if m["text"] != UNREADABLE]
        if not missed:
            return
        # The notices around them carry no number; what she missed of them follows from the messages.
        if not earlier:
            await self._tell(conv, case, "handoff_joined")
        for message in missed:
            if await self._outbox.send_counsellor(conv, message["text"], message["id"]) is not None:
                return  # gone again: the rest waits for her next return
        if case.status == "closed":
            await self._tell(conv, case, "handoff_resumed")
        logger.info("missed messages sent again", extra={"event": "resumed", "case_id": case.id})

    async def _positions_changed(self, exclude: int) -> None:
        """Everyone still waiting whose place in line moved is told her new place."""
        key = None
        for position, waiting in enumerate(await self._queue.list("queued"), start=1):
            # Only those the bot has handed over: during the questions of an urgent intake,
            # the bot is still talking with her and has told her where she stands.
            if waiting.id == exclude or waiting.told_position in (None, position):
                continue
            if await self._queue.record_told_position(waiting.id, position):
                key = key or await self._waiting_text()
                await self._tell(waiting.conversation_id, waiting, key, position=position)

    async def _tell(self, conv: str, case: Case, key: str, position: int | None = None) -> None:
        lang = await self._outbox.language_of(conv) or case.lang
        await self._outbox.send_to(conv, self._texts.get(key, lang, position=position))
