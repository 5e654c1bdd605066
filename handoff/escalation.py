"""The SLA watch: an urgent case nobody has claimed within `MAAK_HANDOFF_SLA_SECONDS` escalates.

Every gateway replica runs the watch; the database lets exactly one of them escalate each case.
What escalation does (tell her honestly, repeat the numbers, alert on-call) is up to the case
listeners; the case stays on top of the queue (urgent, oldest first).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from handoff.cases import CaseQueue

logger = logging.getLogger(__name__)


async def escalate_periodically(queue: CaseQueue, sla_seconds: int) -> None:
    """Check for overdue urgent cases a few times per SLA period, until cancelled."""
    sla = timedelta(seconds=sla_seconds)
    every = min(5.0, max(0.5, sla_seconds / 4))
    while True:
        try:
            await queue.escalate_overdue(sla)
        except Exception:
            logger.exception("SLA check failed", extra={"event": "sla_check_failed"})
        await asyncio.sleep(every)
