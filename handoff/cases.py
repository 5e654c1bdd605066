"""The case state machine and its queue, persisted in the store.

A case is `queued` until a counsellor claims it, `claimed` while she talks with one, and `closed`
with an outcome. Her messages are appended to her open case, whatever the channel. Every change
is told to this replica's listeners (who tell her) and published on the bus (every console).
"""

from __future__ import annotations

import builtins  # `CaseQueue.list` hides the type inside the class
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Awaitable, Callable, Collection

from core.locks import KeyedLocks
from core.privacy import Cipher
from core.store import Store, utcnow
from handoff.bus import LocalBus

logger = logging.getLogger(__name__)

PRIORITIES = {"urgent": 0, "high": 1, "normal": 2}
# Caps far above anything a person writes (WhatsApp and Telegram stop at 4,096 characters a
# message), so that a flood cannot fill the store or a counsellor's console.
MAX_STORED_CHARS = 10_000
MAX_CASE_MESSAGES = 5_000
TRANSITIONS = {
    "queued": {"claimed", "closed"},
    "claimed": {"queued", "claimed", "closed"},  # transfer to the queue or to a colleague
    "closed": set(),
}


class CaseNotFound(LookupError):
    """No such case."""


class InvalidTransition(ValueError):
    """The case is not in a state that allows this."""


@dataclass(frozen=True)
class Case:
    """One case: field for field a row of the store's cases (`Case(**row)`), her words still
    encrypted, every moment aware and in UTC.

    Frozen: a case changes only through `CaseQueue`, which hands back the case as it now stands.
    """

    id: int
    conversation_id: str
    status: str
    priority: str
    lang: str | None
    channel: str
    region: str | None
    category: str | None
    danger: bool
    safe_to_chat: str | None
    summary_enc: str | None
    intake_done: bool
    created_at: datetime
    updated_at: datetime
    claimed_by: str | None
    claimed_at: datetime | None
    closed_at: datetime | None
    outcome: str | None
    escalated_at: datetime | None
    callback_window: str | None
    callback_due_on: str | None
    told_position: int | None


@dataclass(frozen=True)
class CaseEvent:
    """What the console hears about: `case_opened`, `case_updated`, `message`, `case_closed`.

    `change` says what happened, for those who act on it: `opened`, `card`, `claimed`,
    `transferred`, `requeued`, `escalated`, `callback_due`, `closed`, `erased` or `message`.
    `case` is for this replica's listeners; `public` is the case as every console sees it.
    """

    type: str
    case: Case
    public: dict[str, Any]
    change: str
    message: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The event as the console's WebSocket sends it (no conversation id)."""
        event: dict[str, Any] = {"type": self.type, "change": self.change, "case": self.public}
        if self.message is not None:
            event["message"] = self.message
        return event


Listener = Callable[[CaseEvent], Awaitable[None]]
CARD_FIELDS = {"region", "safe_to_chat", "intake_done", "lang", "category", "summary", "callback_window"}


class CaseQueue:
    """Opens, changes and lists cases; tells this replica's listeners and every console."""

    def __init__(self, store: Store, cipher: Cipher, bus: LocalBus | None = None) -> None:
        self._store = store
        self._cipher = cipher
        self._bus = bus or LocalBus()
        self._listeners: list[Listener] = []
        # One open case per conversation even when the router and the actions ask at once;
        # different conversations open their cases side by side.
        self._open_locks = KeyedLocks()

    def subscribe(self, listener: Listener) -> None:
        """`listener` hears every change made on this replica (not those of other replicas)."""
        self._listeners.append(listener)

    async def _emit(self, type_: str, case: Case, change: str, message: dict[str, Any] | None = None) -> None:
        event = CaseEvent(type_, case, self.public(case), change, message)
        # Consoles first: a counsellor seeing an urgent case must not wait for anything else.
        await self._bus.publish(event.as_dict())
        for listener in self._listeners:
            try:
                await listener(event)
            except Exception:
                logger.exception("case listener failed", extra={"event": event.type})

    async def open_case(
        self,
        conversation_id: str,
        *,
        channel: str,
        priority: str,
        lang: str | None = None,
        region: str | None = None,
        category: str | None = None,
        danger: bool = False,
        summary: str = "",
        keep_summary: bool = False,
    ) -> Case:
        """Her open case, created if needed; a second request can only raise its priority.

        With `keep_summary`, `summary` is only the first words of a new case, not a newer summary.
        """
        if priority not in PRIORITIES:
            raise ValueError(f"unknown priority {priority!r}")
        fields = {"channel": channel, "priority": priority, "lang": lang, "region": region, "category": category,
                  "danger": danger}
        async with self._open_locks.hold(conversation_id):
            # One trip to the store's threads: under load each trip waits its turn in their queue.
            case, change = await self._store.run(
                self._open_or_raise, conversation_id, fields, summary, keep_summary
            )
        if change is not None:
            await self._emit("case_opened" if change == "opened" else "case_updated", case, change)
        return case

    def _open_or_raise(
        self, conversation_id: str, fields: dict[str, Any], summary: str, keep_summary: bool
    ) -> tuple[Case, str | None]:
        """In a store thread: her open case, or a new one; returns it and what changed."""
        row = self._store.open_case_for(conversation_id)
        if row is None:
            new = self._store.insert_case(
                conversation_id=conversation_id, summary_enc=self._cipher.encrypt(summary), **fields
            )
            return Case(**new), "opened"
        case = Case(**row)
        changes: dict[str, Any] = {}
        if PRIORITIES[fields["priority"]] < PRIORITIES[case.priority]:
            changes["priority"] = fields["priority"]
        if fields["danger"] and not case.danger:
            changes["danger"] = True
        for key, known in (("lang", case.lang), ("region", case.region), ("category", case.category)):
            if fields[key] and fields[key] != known:
                changes[key] = fields[key]
        if summary and not keep_summary:
            changes["summary_enc"] = self._cipher.encrypt(summary)
        if not changes:
            return case, None
        return Case(**self._store.update_case(case.id, **changes)), "card"

    async def update(self, case_id: int, **changes: Any) -> Case:
        """Update the case card (region, safe to chat, intake done…) while she waits."""
        unknown = set(changes) - CARD_FIELDS
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)}")
        if "summary" in changes:
            changes["summary_enc"] = self._cipher.encrypt(str(changes.pop("summary")))
        await self.get(case_id)
        case = Case(**await self._store.run(self._store.update_case, case_id, **changes))
        await self._emit("case_updated", case, "card")
        return case

    async def transition(
        self, case_id: int, status: str, change: str, from_statuses: set[str] | None = None, **values: Any
    ) -> Case:
        """Move a case to `status`, atomically, from any state the transition table allows.

        Raises:
            CaseNotFound: no such case.
            InvalidTransition: the case is (no longer) in a state that allows it.
        """
        allowed = {state for state, targets in TRANSITIONS.items() if status in targets}
        if from_statuses is not None:
            allowed &= from_statuses
        row = await self._store.run(self._store.transition_case, case_id, allowed, status=status, **values)
        if row is None:
            current = await self.get(case_id)
            raise InvalidTransition(f"{current.status} → {status}")
        case = Case(**row)
        await self._emit("case_closed" if status == "closed" else "case_updated", case, change)
        return case

    async def claim(self, case_id: int, counsellor: str) -> Case:
        """A counsellor takes a queued case; of several claiming at once, exactly one wins."""
        return await self.transition(
            case_id, "claimed", "claimed", {"queued"}, claimed_by=counsellor, claimed_at=utcnow(), told_position=None
        )

    async def transfer(self, case_id: int, to: str | None, holder: str | None = None) -> Case:
        """Hand a claimed case to a colleague, or back to the queue when `to` is None.

        With `holder`, only succeeds if that counsellor still holds the case.
        """
        case = await self.get(case_id)
        if holder is not None and case.claimed_by != holder:
            raise InvalidTransition("the case is held by someone else")
        if to is None:
            return await self.transition(case_id, "queued", "requeued", {"claimed"}, claimed_by=None, claimed_at=None)
        return await self.transition(case_id, "claimed", "transferred", {"claimed"}, claimed_by=to, claimed_at=utcnow())

    async def close(self, case_id: int, outcome: str) -> Case:
        return await self.transition(case_id, "closed", "closed", outcome=outcome, closed_at=utcnow())

    async def add_referral(self, case_id: int, service_id: str, note: str | None, by: str) -> None:
        """The service a counsellor referred her to at close, with her note encrypted."""
        note_enc = self._cipher.encrypt(note) if note else None
        await self._store.run(self._store.add_referral, case_id, service_id, note_enc, by)

    async def record_told_position(self, case_id: int, position: int) -> bool:
        """Record the place in line she is about to be told; False if she was already told it
        (by any replica)."""
        return await self._store.run(self._store.set_told_position, case_id, position)

    async def erased(self, case: Case) -> None:
        """Her case was erased ("forget me"): consoles drop it; nothing of hers goes with the event."""
        gone = replace(case, status="closed", outcome="erased", summary_enc=None)
        await self._emit("case_closed", gone, "erased")

    async def escalate_overdue(self, sla: timedelta) -> list[Case]:
        """Mark urgent cases queued longer than `sla` as escalated; each by one replica only."""
        escalated = []
        for overdue in await self._store.run(self._store.overdue_urgent_cases, sla):
            row = await self._store.run(self._store.mark_escalated, overdue["id"])
            if row is not None:
                case = Case(**row)
                escalated.append(case)
                await self._emit("case_updated", case, "escalated")
        return escalated

    async def announce_callbacks(self, open_windows: Collection[str], day: str) -> list[Case]:
        """Queued cases whose callback window is open now: announced once a day, by one replica."""
        announced = []
        for waiting in await self._store.run(self._store.waiting_for_callback, open_windows, day):
            row = await self._store.run(self._store.mark_callback_due, waiting["id"], day)
            if row is not None:
                case = Case(**row)
                announced.append(case)
                await self._emit("case_updated", case, "callback_due")
        return announced

    async def get(self, case_id: int) -> Case:
        row = await self._store.run(self._store.get_case, case_id)
        if row is None:
            raise CaseNotFound(case_id)
        return Case(**row)

    async def open_case_for(self, conversation_id: str) -> Case | None:
        row = await self._store.run(self._store.open_case_for, conversation_id)
        return None if row is None else Case(**row)

    async def last_case_for(self, conversation_id: str) -> Case | None:
        row = await self._store.run(self._store.last_case_for, conversation_id)
        return None if row is None else Case(**row)

    async def list(self, status: str) -> builtins.list[Case]:
        rows = await self._store.run(self._store.list_cases, status, 100 if status == "closed" else 500)
        return [Case(**row) for row in rows]

    async def counsellor_messages_after(
        self, case_id: int, after: int, limit: int
    ) -> tuple[builtins.list[dict[str, Any]], bool]:
        """What counsellors wrote on the case after message `after` (at most `limit`), and
        whether they had written before it."""
        rows, earlier = await self._store.run(self._store.counsellor_messages_after, case_id, after, limit)
        return [self.public_message(row) for row in rows], earlier

    async def messages(
        self, case_id: int, before: int | None = None, limit: int | None = None
    ) -> builtins.list[dict[str, Any]]:
        """The case's messages as the console shows them, oldest first: all, or the `limit` newest before `before`."""
        rows = await self._store.run(self._store.case_messages, case_id, before, limit)
        return [self.public_message(row) for row in rows]

    async def position(self, case: Case) -> int:
        return await self._store.run(self._store.queue_position, case.id, case.priority, PRIORITIES)

    async def append(self, case: Case, author: str, text: str, counsellor: str | None = None) -> dict[str, Any]:
        """Add a counsellor's message to the case and tell the consoles; returns it as the console shows it."""
        row = await self._store.run(
            self._store.add_case_message, case.id, author, self._cipher.encrypt(text[:MAX_STORED_CHARS]), counsellor
        )
        if row is None:  # only `keep` sets a cap
            raise RuntimeError("a message with no cap was not stored")
        message = self.public_message(row)
        await self._emit("message", case, "message", message)
        return message

    async def keep(self, case: Case, author: str, text: str) -> None:
        """Add her message or the bot's to the case and tell the consoles; past `MAX_CASE_MESSAGES`
        of them on one case (a flood, not a person) no more are kept."""
        row = await self._store.run(
            self._store.add_case_message, case.id, author, self._cipher.encrypt(text[:MAX_STORED_CHARS]), None,
            MAX_CASE_MESSAGES,
        )
        if row is None:
            logger.warning("case full: message not kept", extra={"event": "case_full", "case_id": case.id})
            return
        await self._emit("message", case, "message", self.public_message(row))

    async def delivery_failed(self, case: Case, message: dict[str, Any], error: str) -> dict[str, Any]:
        """Record that a message could not reach her, and show it on every console."""
        await self._store.run(self._store.set_delivery_error, message["id"], error)
        message = {**message, "delivery_error": error[:64]}
        await self._emit("message", case, "message", message)
        return message

    async def undelivered(self, message_id: int, error: str) -> None:
        """A platform reported later that a stored message did not reach her: record and show it."""
        row = await self._store.run(self._store.get_case_message, message_id)
        case = await self._store.run(self._store.get_case, row["case_id"]) if row else None
        if row is None or case is None:  # erased since: nobody to tell
            return
        await self.delivery_failed(Case(**case), self.public_message(row), error)

    def public(self, case: Case) -> dict[str, Any]:
        """The case as the console and the API show it (CONTRACTS' fields), texts decrypted."""
        return {
            "id": case.id,
            "status": case.status,
            "priority": case.priority,
            "lang": case.lang,
            "channel": case.channel,
            "region": case.region,
            "category": case.category,
            "danger": case.danger,
            "safe_to_chat": case.safe_to_chat,
            "created_at": _iso(case.created_at),
            "claimed_by": case.claimed_by,
            "escalated": case.escalated_at is not None,
            "callback_window": case.callback_window,
            "outcome": case.outcome,
            "summary": self._readable(case.summary_enc),
        }

    def _readable(self, token: str | None) -> str:
        """A stored text, decrypted; one row written with another key must not hide the whole queue."""
        if not token:
            return ""
        try:
            return self._cipher.decrypt(token)
        except ValueError:
            logger.error("a stored text cannot be decrypted with the current data key", extra={"event": "undecryptable"})
            return UNREADABLE

    def public_message(self, row: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": row["id"],
            "author": row["author"],
            "text": self._readable(row["text_enc"]),
            "created_at": _iso(row["created_at"]),
            "counsellor": row["counsellor"],
            "delivery_error": row["delivery_error"],
        }


UNREADABLE = "[unreadable: stored with another MAAK_DATA_KEY]"


def _iso(moment: datetime | None) -> str | None:
    """ISO 8601 with the UTC offset (the store gives every moment back in UTC)."""
    return None if moment is None else moment.isoformat()
