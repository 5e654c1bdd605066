"""When a counsellor may write first: her callback window, in Moroccan time, and her presence."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import yaml

from bot.router import callback_window
from core.settings import PROJECT_ROOT
from handoff.callback import callback_windows

WINDOWS = callback_windows()


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "now, window, allowed",
    [
        ("2026-11-23T17:30:00", "evening", True),  # 18:30 in Casablanca (UTC+1)
        ("2026-11-23T15:59:00", "evening", False),  # 16:59 there
        ("2026-11-23T20:00:00", "evening", False),  # 21:00 there: the window has closed
        ("2026-11-23T08:00:00", "morning", True),
        ("2026-11-23T08:00:00", "afternoon", False),
        ("2026-11-23T03:00:00", "anytime", True),
        ("2026-11-23T03:00:00", None, True),
        ("2026-11-23T12:00:00", "none", False),
    ],
)
def test_a_window_is_read_in_moroccan_time(now: str, window: str | None, allowed: bool) -> None:
    refusal = WINDOWS.refusal(window, utc("2026-11-22T10:00:00"), utc(now))
    assert (refusal is None) == allowed, refusal


def test_during_ramadan_morocco_is_on_utc() -> None:
    # Morocco moves its clocks back an hour for Ramadan (2026: mid-February to mid-March).
    assert WINDOWS.refusal("evening", None, utc("2026-03-01T16:30:00")) is not None  # 16:30 there
    assert WINDOWS.refusal("evening", None, utc("2026-11-01T16:30:00")) is None  # 17:30 there


def test_while_she_is_at_her_phone_a_message_is_a_reply() -> None:
    now = utc("2026-11-23T03:00:00")
    assert WINDOWS.refusal("none", now - timedelta(minutes=5), now) is None
    assert WINDOWS.refusal("evening", now - timedelta(minutes=5), now) is None
    assert WINDOWS.refusal("none", now - timedelta(minutes=30), now) == {"reason": "callback_none", "window": "none"}
    assert WINDOWS.refusal("evening", now - timedelta(hours=2), now) == {
        "reason": "callback_window", "window": "evening", "hours": "17:00-21:00"}


def test_the_buttons_name_the_windows_of_the_file() -> None:
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    for variant in domain["responses"]["utter_handoff_offline"]:
        # Rasa fills `{slot}` placeholders in responses, so the payloads' JSON braces are doubled
        # there; she receives them single, as `str.format` gives them.
        chosen = [callback_window(b["payload"].format()) for b in variant["buttons"]]
        assert sorted(chosen) == sorted(WINDOWS.choices), variant["text"]
    assert callback_window('/callback_window{"window":"evening"}') == "evening"
    assert callback_window('/callback_window{"window":"none"}') == "none"
    assert callback_window('/callback_window{"window":"midnight"}') is None
    assert callback_window('/callback_window{"window":') is None


def test_the_console_gets_the_hours_of_the_file() -> None:
    assert WINDOWS.as_json() == {"timezone": "Africa/Casablanca", "windows": {
        "morning": {"from": "08:00", "to": "12:00"}, "afternoon": {"from": "12:00", "to": "17:00"},
        "evening": {"from": "17:00", "to": "21:00"}}}
