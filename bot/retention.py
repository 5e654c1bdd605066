"""Erasure ("forget me") and the retention purge of inactive conversations.

Both erase the same things: her contact, her cases and their messages, and her Rasa tracker.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError, ProgrammingError

from core.store import Store, create_store_engine

logger = logging.getLogger(__name__)

# Rasa's SQLTrackerStore keeps every conversation event in this table, keyed by sender_id.
_TRACKER_EVENTS = sa.table("events", sa.column("sender_id"))


class Eraser:
    """Erases conversations from the gateway store and from Rasa's tracker store."""

    def __init__(self, store: Store, tracker_url: str) -> None:
        self._store = store
        self._tracker = store.engine if tracker_url == store.url else create_store_engine(tracker_url)

    def erase(self, conversation_id: str) -> None:
        self._store.erase_conversation(conversation_id)
        try:
            with self._tracker.begin() as conn:
                conn.execute(sa.delete(_TRACKER_EVENTS).where(_TRACKER_EVENTS.c.sender_id == conversation_id))
        except (OperationalError, ProgrammingError):
            # No tracker table yet: Rasa has stored nothing to erase.
            pass
        logger.info("conversation erased", extra={"event": "erased"})

    def purge_inactive(self, days: int) -> int:
        """Erase every conversation inactive for `days`; returns how many."""
        stale = self._store.inactive_conversations(timedelta(days=days))
        for conversation_id in stale:
            self.erase(conversation_id)
        if stale:
            logger.info("retention purge erased %d conversations", len(stale), extra={"event": "retention"})
        return len(stale)

    def dispose(self) -> None:
        if self._tracker is not self._store.engine:
            self._tracker.dispose()


async def purge_periodically(eraser: Eraser, store: Store, days: int, every_seconds: float = 3600) -> None:
    """Run the retention purge now and then every `every_seconds`, until cancelled."""
    while True:
        try:
            await store.run(eraser.purge_inactive, days)
        except Exception:
            logger.exception("retention purge failed", extra={"event": "retention_failed"})
        await asyncio.sleep(every_seconds)
