"""Rasa's tracker store for Maak: SQL, as Rasa's own, with every event encrypted at rest.

Rasa's `SQLTrackerStore` keeps each event of a conversation as JSON in its `events` table (her
words, their parse, the bot's replies) and names the intent and the action in columns of their
own. Here the JSON is encrypted with the data key (`MAAK_DATA_KEY`, as `core.privacy.Cipher`
encrypts the gateway's texts) and those two columns stay empty. What is left in clear says
nothing of her: the sender id is a pseudonym, and an event's type and time are what Rasa queries
to find where a conversation's session starts. Endpoints: `type: tracker_store.EncryptedSQLTrackerStore`.
"""

from __future__ import annotations

import itertools
import json
import os
from typing import Any, Optional, Text

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker

from core.privacy import Cipher


class EncryptedSQLTrackerStore(SQLTrackerStore):
    """`SQLTrackerStore` whose `events.data` is a Fernet token, and `intent_name`/`action_name` empty."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        key = os.environ.get("MAAK_DATA_KEY")
        if not key:
            # Not an AttributeError or ImportError: Rasa would quietly keep trackers in memory instead.
            raise RuntimeError("MAAK_DATA_KEY is not set: Rasa's tracker store cannot encrypt")
        self._cipher = Cipher(key.encode())
        super().__init__(*args, **kwargs)

    def _decode(self, stored: str) -> Any:
        # Events written before encryption (a JSON object) are still read; new ones are tokens.
        return json.loads(stored if stored.startswith("{") else self._cipher.decrypt(stored))

    async def _retrieve(self, sender_id: Text, fetch_events_from_all_sessions: bool) -> Optional[DialogueStateTracker]:
        with self.session_scope() as session:
            rows = self._event_query(session, sender_id, fetch_events_from_all_sessions).all()
            events = [self._decode(row.data) for row in rows]
        if self.domain is None or not events:
            return None
        return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)
        with self.session_scope() as session:
            stored = self._event_query(session, tracker.sender_id, fetch_events_from_all_sessions=False).count()
            for event in itertools.islice(tracker.events, stored, len(tracker.events)):
                data = event.as_dict()
                session.add(
                    self.SQLEvent(
                        sender_id=tracker.sender_id,
                        type_name=event.type_name,
                        timestamp=data.get("timestamp"),
                        intent_name=None,
                        action_name=None,
                        data=self._cipher.encrypt(json.dumps(data)),
                    )
                )
            session.commit()
