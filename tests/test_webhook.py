"""The webhook base both platform channels stand on: bounded shutdown, retries within a budget."""

from __future__ import annotations

import asyncio
import logging

import pytest

from channels.base import DeliveryFailed
from channels.webhook import HandOver, RetryLater, split_text, with_retries


async def test_shutdown_finishes_what_it_can_then_cancels_the_rest_and_says_so(caplog) -> None:
    hand_over, finished = HandOver("telegram", close_timeout_seconds=0.3), []

    async def quick() -> None:
        await asyncio.sleep(0.05)
        finished.append("quick")

    async def stuck() -> None:
        await asyncio.sleep(3600)

    hand_over.spawn(quick())
    hand_over.spawn(stuck())
    loop = asyncio.get_running_loop()
    started = loop.time()
    with caplog.at_level(logging.ERROR):
        await hand_over.close()
    assert finished == ["quick"] and hand_over.pending == 0
    assert loop.time() - started < 2  # a stuck handler cannot hold the gateway's shutdown
    assert [getattr(r, "event", "") for r in caplog.records] == ["telegram_close_timeout"]
    assert hand_over.busy  # closing: the platform is asked to send again later


async def test_a_send_is_retried_as_the_platform_asks_then_goes() -> None:
    calls: list[float] = []

    async def once(seconds_left: float) -> str:
        calls.append(seconds_left)
        if len(calls) < 3:
            raise RetryLater("rate limited", after=0.01)
        return "sent"

    assert await with_retries(once, channel="whatsapp", attempts=4, backoff=(5.0,), budget_seconds=10) == "sent"
    assert len(calls) == 3 and all(0 < left <= 10 for left in calls)


async def test_a_wait_past_the_budget_fails_at_once_for_a_human() -> None:
    calls = 0

    async def once(seconds_left: float) -> None:
        nonlocal calls
        calls += 1
        raise RetryLater("telegram: rate limited by Telegram", after=120)

    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(DeliveryFailed, match="rate limited"):
        await with_retries(once, channel="telegram", attempts=4, backoff=(0.5,), budget_seconds=30)
    assert calls == 1 and loop.time() - started < 1


async def test_a_refusal_is_not_retried() -> None:
    calls = 0

    async def once(seconds_left: float) -> None:
        nonlocal calls
        calls += 1
        raise DeliveryFailed("refused (HTTP 400)")

    with pytest.raises(DeliveryFailed, match="refused"):
        await with_retries(once, channel="whatsapp", attempts=3, backoff=(0.01,), budget_seconds=5)
    assert calls == 1


def test_long_text_is_cut_at_a_line_break_or_a_space_and_blank_pieces_dropped() -> None:
    text = "salam " * 10 + "\n" + "x" * 30
    pieces = split_text(text, 40)
    assert pieces == ["salam " * 5 + "salam", "salam " * 3 + "salam", "x" * 30]  # the line break first
    assert split_text("   \n  ", 40) == [] and split_text("ع" * 90, 40) == ["ع" * 40, "ع" * 40, "ع" * 10]
