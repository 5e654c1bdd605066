"""Alerting the on-call counsellors in their chats (the Telegram channel's bot): an urgent case
waits past the SLA, or a waiting woman's callback time has come.

An alert carries no words of hers and no contact: the case number, its language and how long it
has waited (or which window she chose), so that a notification on a counsellor's phone reveals
nothing about her.

Under a flood (many urgent cases at once, real or forged from the anonymous chat) the phones
would ring without end: past `ALERTS_PER_WINDOW` escalation alerts in `ALERT_WINDOW`, the next
ones are held and sent as one summary a minute. The cases themselves are never held back: they
stay on top of every console's queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from datetime import datetime, timedelta, timezone
from typing import Awaitable, Callable, Sequence

from handoff.cases import Case

# Sends `text` to one chat; raises when it could not be delivered.
SendText = Callable[[str, str], Awaitable[None]]

logger = logging.getLogger(__name__)

ALERTS_PER_WINDOW = 5
ALERT_WINDOW = timedelta(minutes=10)
SUMMARY_EVERY_SECONDS = 60.0


class OnCall:
    """No on-call chats configured: the escalation is logged, nobody is messaged."""

    async def alert(self, case: Case) -> None:
        logger.warning("urgent case waiting past the SLA; no on-call chat configured",
                       extra={"event": "escalated", "case_id": case.id})

    async def callback_due(self, case: Case) -> None:
        logger.warning("her callback time has come; no on-call chat configured",
                       extra={"event": "callback_due", "case_id": case.id})

    async def send_held(self) -> None:
        """Send the alerts held back during a flood as one summary (none here)."""

    async def send_held_periodically(self) -> None:
        """Until cancelled: the held alerts go out as a summary every `SUMMARY_EVERY_SECONDS`."""
        while True:
            await asyncio.sleep(SUMMARY_EVERY_SECONDS)
            try:
                await self.send_held()
            except Exception:
                logger.exception("held on-call alerts not sent", extra={"event": "oncall_failed"})



class ChatOnCall(OnCall):
    """Sends the alert to every on-call chat through a channel's `send` (Telegram's, in the gateway)."""

    def __init__(self, send: SendText, chat_ids: Sequence[str], console_url: str) -> None:
        self._send = send
        self._chat_ids = tuple(chat_ids)
        self._console_url = console_url
        self._alerted_at: deque[datetime] = deque()
        self._held: list[Case] = []

    def text(self, case: Case) -> str:
        waited = int((datetime.now(timezone.utc) - case.created_at).total_seconds() // 60)
        return (
            f"Maak: urgent case #{case.id} ({case.lang or '?'}) waiting {waited} min, no counsellor yet.\n"
            f"Maak : cas urgent n° {case.id} en attente depuis {waited} min.\n"
            f"{self._console_url}"
        )

    async def alert(self, case: Case) -> None:
        now = datetime.now(timezone.utc)
        while self._alerted_at and now - self._alerted_at[0] > ALERT_WINDOW:
            self._alerted_at.popleft()
        if len(self._alerted_at) >= ALERTS_PER_WINDOW:
            self._held.append(case)
            logger.warning("urgent case escalated; its alert joins the next summary (a flood)",
                           extra={"event": "escalated", "case_id": case.id, "alerted": 0})
            return
        self._alerted_at.append(now)
        sent = await self._send_all(self.text(case), case)
        logger.warning("urgent case escalated; on-call alerted",
                       extra={"event": "escalated", "case_id": case.id, "alerted": sent})

    def summary_text(self, cases: Sequence[Case]) -> str:
        numbers = ", ".join(f"#{case.id}" for case in cases[:20]) + (" …" if len(cases) > 20 else "")
        return (
            f"Maak: {len(cases)} more urgent cases waiting, no counsellor yet ({numbers}).\n"
            f"Maak : {len(cases)} autres cas urgents en attente.\n"
            f"{self._console_url}"
        )

    async def send_held(self) -> None:
        held, self._held = self._held, []
        if held:
            sent = await self._send_all(self.summary_text(held), held[0])
            logger.warning("%d held on-call alerts sent as one summary", len(held),
                           extra={"event": "escalated_summary", "alerted": sent})

    def callback_text(self, case: Case) -> str:
        return (
            f"Maak: case #{case.id} ({case.lang or '?'}) is waiting and her callback time "
            f"({case.callback_window}) has come: she was told a counsellor would write then.\n"
            f"Maak : cas n° {case.id} en attente, c'est son moment de rappel ({case.callback_window}).\n"
            f"{self._console_url}"
        )

    async def callback_due(self, case: Case) -> None:
        sent = await self._send_all(self.callback_text(case), case)
        logger.warning("her callback time has come; on-call alerted",
                       extra={"event": "callback_due", "case_id": case.id, "alerted": sent})

    async def _send_all(self, text: str, case: Case) -> int:
        """Send to every on-call chat; how many received it."""
        sent = 0
        for chat_id in self._chat_ids:
            try:
                await self._send(chat_id, text)
                sent += 1
            except Exception as exc:  # one chat's failure must not keep the alert from the others
                logger.error("on-call alert not delivered: %s", type(exc).__name__,
                             extra={"event": "oncall_failed", "case_id": case.id})
        return sent
