"""Helpers every action shares: her language, the facts, what she has said so far."""

from __future__ import annotations

from rasa_sdk import Tracker

from core.languages import DEFAULT_LANG
from facts import Facts, default_facts

SAFETY_QUESTION = "utter_ask_safe_now"
SUMMARY_MAX_CHARS = 2000


def lang_of(tracker: Tracker) -> str:
    """The conversation's language tag (the `lang` slot), Darija until one is known."""
    return tracker.get_slot("lang") or DEFAULT_LANG


def facts() -> Facts:
    return default_facts()


def latest_intent(tracker: Tracker) -> str | None:
    return (tracker.latest_message.get("intent") or {}).get("name")


def her_words(tracker: Tracker) -> str:
    """What she has written in this session, newest last, for the counsellor's case card."""
    texts = [
        e.get("text") or ""
        for e in tracker.events_after_latest_restart()
        if e.get("event") == "user" and (e.get("text") or "") and not (e.get("text") or "").startswith("/")
    ]
    summary = "\n".join(texts)
    return summary[-SUMMARY_MAX_CHARS:]


def answered_not_safe(tracker: Tracker) -> bool:
    """She answered "no" to the question whether she is safe right now."""
    if latest_intent(tracker) != "deny":
        return False
    actions = [e.get("name") for e in tracker.events if e.get("event") == "action"]
    asked = [name for name in actions if name not in ("action_listen", None)]
    return bool(asked) and asked[-1] == SAFETY_QUESTION
