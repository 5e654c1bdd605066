"""When a counsellor may write first to a woman who chose a callback window, and when she should.

With no counsellor online she is asked when it is safe to be written to: a window of the day
(`callback_windows.yml`, local time), any time, or never first. A counsellor's message while
she is at her phone (she wrote in the last minutes) is a reply and always fine; otherwise a
message against her choice needs the counsellor to confirm it, and the confirmation is audited.
When she had to stop writing ("someone is coming") while her case is open, the case is marked
`stopped`: nobody writes first, even a minute later, until she writes again (then nobody writes
first while she is away, whatever she chose before).
When her window opens and she is still waiting, the on-call counsellors are told (once a day,
by one replica), since she was promised a message then.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping
from zoneinfo import ZoneInfo

import yaml

from handoff.cases import CaseQueue

logger = logging.getLogger(__name__)

WINDOWS_FILE = Path(__file__).resolve().parent / "callback_windows.yml"
ANYTIME, NONE = "anytime", "none"
# Not a choice of hers but a mark: she had to stop, someone may be reading over her shoulder.
STOPPED = "stopped"
# How often the open windows are checked; a window is hours long, a minute late is nothing.
CHECK_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class CallbackWindows:
    zone: ZoneInfo
    present: timedelta
    hours: Mapping[str, tuple[time, time]]

    def as_json(self) -> dict[str, Any]:
        """For the console: the time zone and each window's hours."""
        return {"timezone": self.zone.key,
                "windows": {name: {"from": f"{a:%H:%M}", "to": f"{b:%H:%M}"} for name, (a, b) in self.hours.items()}}

    @property
    def choices(self) -> tuple[str, ...]:
        """Every window she can choose (the button payloads)."""
        return (*self.hours, ANYTIME, NONE)

    def refusal(self, window: str | None, last_seen: datetime | None, now: datetime) -> dict[str, Any] | None:
        """Why writing to her now goes against her choice, or None when it does not.

        `{"reason": "callback_stopped"}` (she had to stop writing: never first, even a minute later),
        `{"reason": "callback_none"}` (she asked that nobody writes first) or
        `{"reason": "callback_window", "window": name, "hours": "17:00-21:00"}` (outside her window).
        """
        if window == STOPPED:
            return {"reason": "callback_stopped", "window": STOPPED}
        if window not in self.choices or window == ANYTIME:
            return None
        if last_seen is not None and now - last_seen <= self.present:
            return None
        if window == NONE:
            return {"reason": "callback_none", "window": NONE}
        start, end = self.hours[window]
        if start <= now.astimezone(self.zone).time() < end:
            return None
        return {"reason": "callback_window", "window": window, "hours": f"{start:%H:%M}-{end:%H:%M}"}


    def open_now(self, now: datetime) -> tuple[set[str], str]:
        """The windows open at `now`, and the local day (YYYY-MM-DD)."""
        local = now.astimezone(self.zone)
        return {name for name, (start, end) in self.hours.items() if start <= local.time() < end}, f"{local:%Y-%m-%d}"


async def announce_periodically(queue: CaseQueue) -> None:
    """Tell the case listeners when a waiting woman's callback time has come, until cancelled."""
    while True:
        try:
            windows, day = callback_windows().open_now(datetime.now(timezone.utc))
            if windows:
                await queue.announce_callbacks(windows, day)
        except Exception:
            logger.exception("callback check failed", extra={"event": "callback_check_failed"})
        await asyncio.sleep(CHECK_EVERY_SECONDS)


@lru_cache(maxsize=1)
def callback_windows() -> CallbackWindows:
    """The operator's file, checked."""
    data = yaml.safe_load(WINDOWS_FILE.read_text(encoding="utf-8"))
    hours: dict[str, tuple[time, time]] = {}
    for name, span in data["windows"].items():
        start, end = time.fromisoformat(span["from"]), time.fromisoformat(span["to"])
        if name in (ANYTIME, NONE) or not start < end:
            raise ValueError(f"{WINDOWS_FILE.name}: window {name!r} needs another name or from < to")
        hours[name] = (start, end)
    return CallbackWindows(ZoneInfo(data["timezone"]), timedelta(minutes=int(data["present_minutes"])), hours)

