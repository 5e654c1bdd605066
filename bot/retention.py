"""Erasure ("forget me") and the retention purge of inactive conversations.

Both erase the same things: her contact, her cases and their messages, and her Rasa tracker. The
purge also finds conversations no contact leads to — cases opened without one, trackers of
conversations that never reached the gateway's store — once they are as old.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError, ProgrammingError

from core.store import Store, create_store_engine, utcnow

logger = logging.getLogger(__name__)

# Rasa's SQLTrackerStore keeps every conversation event in this table, keyed by sender_id.
_TRACKER_EVENTS = sa.table("events", sa.column("sender_id"), sa.column("timestamp"))


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
        within = timedelta(days=days)
        stale = sorted(
            set(self._store.inactive_conversations(within))
            | set(self._store.orphan_conversations(within))
            | self._orphan_trackers(within)
        )
        for conversation_id in stale:
            self.erase(conversation_id)
        if stale:
            logger.info("retention purge erased %d conversations", len(stale), extra={"event": "retention"})
        return len(stale)

    def _orphan_trackers(self, within: timedelta) -> set[str]:
        """Senders of Rasa's tracker with no contact and no event for `within`."""
        cutoff = (utcnow() - within).timestamp()
        last_event = sa.func.max(_TRACKER_EVENTS.c.timestamp)
        try:
            with self._tracker.connect() as conn:
                quiet = set(conn.execute(
                    sa.select(_TRACKER_EVENTS.c.sender_id).group_by(_TRACKER_EVENTS.c.sender_id).having(last_event < cutoff)
                ).scalars())
        except (OperationalError, ProgrammingError):
            return set()  # no tracker table yet
        return quiet - self._store.contact_ids() if quiet else set()

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
