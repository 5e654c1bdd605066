"""Helpers every action shares: her language, the facts, what she has said so far."""

from __future__ import annotations

from rasa_sdk import Tracker

from facts import Facts, default_facts

DEFAULT_LANG = "ary"
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
