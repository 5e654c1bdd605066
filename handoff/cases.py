"""The case state machine and its queue, persisted in the store.

A case is `queued` until a counsellor claims it, `claimed` while she talks with one, and `closed`
with an outcome. Her messages are appended to her open case, whatever the channel.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from bot.privacy import Cipher
from bot.store import Store, utcnow

logger = logging.getLogger(__name__)

PRIORITIES = {"urgent": 0, "high": 1, "normal": 2}
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
class CaseEvent:
    """What the console hears about: `case_opened`, `case_updated`, `message`, `case_closed`."""

    type: str
    case: dict[str, Any]
    message: dict[str, Any] | None = None


Listener = Callable[[CaseEvent], Awaitable[None]]


class CaseQueue:
    """Opens, updates and lists cases; tells listeners about every change."""

    def __init__(self, store: Store, cipher: Cipher) -> None:
        self._store = store
        self._cipher = cipher
        self._listeners: list[Listener] = []
        # One open case per conversation even when two of her messages arrive at once.
        self._open_lock = asyncio.Lock()

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def _emit(self, event: CaseEvent) -> None:
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
    ) -> dict[str, Any]:
        """Her open case, created if needed; a second request can only raise its priority."""
        if priority not in PRIORITIES:
            raise ValueError(f"unknown priority {priority!r}")
        async with self._open_lock:
            case = await self._store.run(self._store.open_case_for, conversation_id)
            if case is None:
                case = await self._store.run(
                    self._store.insert_case,
                    conversation_id=conversation_id,
                    channel=channel,
                    priority=priority,
                    lang=lang,
                    region=region,
                    category=category,
                    danger=danger,
                    summary_enc=self._cipher.encrypt(summary),
                )
                await self._emit(CaseEvent("case_opened", self.public(case)))
                return case
            changes: dict[str, Any] = {}
            if PRIORITIES[priority] < PRIORITIES[case["priority"]]:
                changes["priority"] = priority
            if danger and not case["danger"]:
                changes["danger"] = True
            for key, value in (("lang", lang), ("region", region), ("category", category)):
                if value and value != case[key]:
                    changes[key] = value
            if summary:
                changes["summary_enc"] = self._cipher.encrypt(summary)
            if changes:
                case = await self._store.run(self._store.update_case, case["id"], **changes)
                await self._emit(CaseEvent("case_updated", self.public(case)))
            return case

    async def update(self, case_id: int, **changes: Any) -> dict[str, Any]:
        """Update the case card (region, safe to chat, intake done…) while she waits."""
        allowed = {"region", "safe_to_chat", "intake_done", "lang", "category", "summary"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)}")
        if "summary" in changes:
            changes["summary_enc"] = self._cipher.encrypt(str(changes.pop("summary")))
        if await self._store.run(self._store.get_case, case_id) is None:
            raise CaseNotFound(case_id)
        case = await self._store.run(self._store.update_case, case_id, **changes)
        await self._emit(CaseEvent("case_updated", self.public(case)))
        return case

    async def transition(
        self, case_id: int, status: str, from_statuses: set[str] | None = None, **values: Any
    ) -> dict[str, Any]:
        """Move a case to `status`, atomically, from any state the transition table allows.

        Raises:
            CaseNotFound: no such case.
            InvalidTransition: the case is (no longer) in a state that allows it.
        """
        allowed = {state for state, targets in TRANSITIONS.items() if status in targets}
        if from_statuses is not None:
            allowed &= from_statuses
        case = await self._store.run(self._store.transition_case, case_id, allowed, status=status, **values)
        if case is None:
            current = await self._store.run(self._store.get_case, case_id)
            if current is None:
                raise CaseNotFound(case_id)
            raise InvalidTransition(f"{current['status']} → {status}")
        await self._emit(CaseEvent("case_closed" if status == "closed" else "case_updated", self.public(case)))
        return case

    async def claim(self, case_id: int, counsellor: str) -> dict[str, Any]:
        """A counsellor takes a queued case; of several claiming at once, exactly one wins."""
        return await self.transition(case_id, "claimed", {"queued"}, claimed_by=counsellor, claimed_at=utcnow())

    async def open_case_for(self, conversation_id: str) -> dict[str, Any] | None:
        return await self._store.run(self._store.open_case_for, conversation_id)

    async def position(self, case: dict[str, Any]) -> int:
        return await self._store.run(self._store.queue_position, case, PRIORITIES)

    async def append(self, case: dict[str, Any], author: str, text: str) -> None:
        """Add one message to the case and tell the console."""
        message_id = await self._store.run(self._store.add_case_message, case["id"], author, self._cipher.encrypt(text))
        await self._emit(
            CaseEvent("message", self.public(case), {"id": message_id, "author": author, "text": text})
        )

    def public(self, case: dict[str, Any]) -> dict[str, Any]:
        """The case as the console and the API show it (CONTRACTS' fields), texts decrypted."""
        return {
            "id": case["id"],
            "status": case["status"],
            "priority": case["priority"],
            "lang": case["lang"],
            "channel": case["channel"],
            "region": case["region"],
            "category": case["category"],
            "danger": bool(case["danger"]),
            "safe_to_chat": case["safe_to_chat"],
            "created_at": case["created_at"].isoformat() if case["created_at"] else None,
            "claimed_by": case["claimed_by"],
            "summary": self._cipher.decrypt(case["summary_enc"]) if case["summary_enc"] else "",
        }
