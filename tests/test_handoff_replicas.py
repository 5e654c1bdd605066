"""The live handoff as deployed: PostgreSQL, Redis, and two gateway processes serving one queue.

`maak run` starts Rasa, the actions and gateway A; a second gateway process B shares the database
and Redis. She writes on A, the counsellor works on B. Redis here is a private `redis-server` the
tests can stop and start again; Telegram is a fake Bot API on loopback.
"""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
import requests

from core.settings import PROJECT_ROOT
from core.store import Store
from handoff.accounts import add_user
from tests.conftest import TEST_DATABASE_URL, start_stack
from tests.support.expect import conversation, said, said_text
from tests.support.fakes import FakeTelegram, ServedInThread
from tools.clients import ChatClient, ConsoleClient, texts
from tools.stack import Stack, free_port, stop

PASSWORD = "correct horse battery"
BOT_TOKEN, HOOK_SECRET, HER_CHAT = "123456:ABC-replicas", "hook-secret-r", 777000111
_updates = itertools.count(1)


class PrivateRedis:
    """A redis-server of the test's own, on a free port, that can be stopped and started again."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).stdout != b"PONG\n":
            if time.monotonic() > deadline:
                raise RuntimeError("private redis-server did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@dataclass
class Replicas:
    a: Stack
    b_url: str
    b_process: subprocess.Popen
    redis: PrivateRedis
    telegram: FakeTelegram


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the gateway exited"
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} not healthy")


@pytest.fixture(scope="module")
def replicas(model, tmp_path_factory) -> Iterator[Replicas]:
    folder = tmp_path_factory.mktemp("replicas")
    redis = PrivateRedis(folder)
    redis.start()
    store = Store(TEST_DATABASE_URL)
    store.drop_schema()  # a clean queue: places in line are counted from zero
    store.migrate()
    for name in ("amina", "salma"):
        add_user(store, name, "counsellor", PASSWORD)
    store.dispose()
    telegram = FakeTelegram(BOT_TOKEN)
    with ServedInThread(telegram.app()) as telegram_server:
        telegram.url = telegram_server.url
        a = start_stack(folder, {"DATABASE_URL": TEST_DATABASE_URL, "REDIS_URL": redis.url,
                                 "TELEGRAM_BOT_TOKEN": BOT_TOKEN, "TELEGRAM_WEBHOOK_SECRET": HOOK_SECRET,
                                 "TELEGRAM_API_BASE": telegram.base_url})
        b_port = free_port()
        b_log = (folder / "gateway-b.log").open("w")
        b_process = subprocess.Popen(
            # Its own ports: on one machine the two cannot share the internal API's either.
            [sys.executable, "-m", "bot"], cwd=PROJECT_ROOT,
            env={**a.env, "MAAK_PORT": str(b_port), "MAAK_INTERNAL_PORT": str(free_port())},
            stdout=b_log, stderr=subprocess.STDOUT,
        )
        b_url = f"http://127.0.0.1:{b_port}"
        try:
            _wait_healthy(b_url, b_process)
            yield Replicas(a, b_url, b_process, redis, telegram)
        finally:
            b_process.terminate()
            b_process.wait(timeout=30)
            stop(a)
            redis.stop()


async def _until(predicate, timeout: float = 20) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def _settled(count, quiet: float = 1.0, timeout: float = 30) -> None:
    """Wait until `count()` has not changed for `quiet` seconds: a turn in flight has sent all it will."""
    loop = asyncio.get_running_loop()
    deadline, last, since = loop.time() + timeout, count(), loop.time()
    while loop.time() - since < quiet:
        assert loop.time() < deadline, "still sending"
        await asyncio.sleep(0.05)
        if count() != last:
            last, since = count(), loop.time()


def _her(chat: ChatClient, start: int) -> list[str]:
    """The texts she received from index `start` (controls without words left out)."""
    return [r["text"] for r in chat.received[start:] if r.get("text")]


async def test_two_gateways_her_chat_on_one_the_console_on_the_other(replicas):
    conv = conversation("fr")
    async with ConsoleClient(replicas.b_url, "amina", PASSWORD) as console, ChatClient(replicas.a.url) as chat:
        replies = await chat.say(conv["danger"])
        # A counsellor is online (on the other gateway): she is told her place in line.
        assert said(replies, "utter_handoff_queued", "fr"), texts(replies)
        opened = await console.wait_for(lambda e: e["type"] == "case_opened")
        case_id = opened["case"]["id"]
        assert opened["case"]["priority"] == "urgent" and conv["danger"] in opened["case"]["summary"]
        await chat.say(conv["no"])
        replies = await chat.say(conv["city"])
        assert said(replies, "utter_urgent_intake_done", "fr"), texts(replies)
        card = await console.wait_for(lambda e: e["type"] == "case_updated" and e["case"]["safe_to_chat"] == "no")
        assert card["case"]["id"] == case_id

        start = len(chat.received)
        await console.claim(case_id)
        for i in range(5):
            await console.write(case_id, f"conseillère {i}")
        await _until(lambda: len(_her(chat, start)) >= 6)
        assert _her(chat, start) == ["Une conseillère a rejoint la conversation."] + [f"conseillère {i}" for i in range(5)]

        mark = len(console.events)
        for i in range(5):
            await chat.send({"message": f"elle {i}", "session_id": chat.session_id})
        await console.wait_for(lambda e: e["type"] == "message" and e["message"]["text"] == "elle 4", start=mark)
        heard = [e["message"]["text"] for e in console.events[mark:] if e["type"] == "message"]
        assert heard == [f"elle {i}" for i in range(5)]
        assert len(_her(chat, start)) == 6  # the bot stayed silent
        await console.close(case_id, "safety_plan")
        await _until(lambda: len(_her(chat, start)) == 7)
        assert said_text([{"text": _her(chat, start)[-1]}], "handoff_resumed", "fr")


async def test_ten_claims_at_once_across_the_two_gateways_one_wins(replicas):
    conv = conversation("fr")
    async with ConsoleClient(replicas.a.url, "amina", PASSWORD) as on_a, \
            ConsoleClient(replicas.b_url, "salma", PASSWORD) as on_b, ChatClient(replicas.a.url) as chat:
        await chat.say(conv["human"])
        case_id = (await on_b.wait_for(lambda e: e["type"] == "case_opened"))["case"]["id"]
        results = await asyncio.gather(*(c.call("POST", f"/api/cases/{case_id}/claim") for c in [on_a, on_b] * 5))
        codes = [code for code, _ in results]
        assert codes.count(200) == 1 and codes.count(409) == 9, codes
        winner = next(body for code, body in results if code == 200)["case"]["claimed_by"]
        # Both consoles hear the one claim, whichever gateway took it.
        for console in (on_a, on_b):
            await console.wait_for(lambda e: e["type"] == "case_updated" and e["case"]["claimed_by"] == winner)
        await (on_a if winner == "amina" else on_b).close(case_id)


async def test_a_quick_exit_on_telegram_deletes_the_chat_whichever_gateway_sent_it(replicas):
    telegram, a_url = replicas.telegram, replicas.a.url
    conv = conversation("ary_latn")
    async with ConsoleClient(replicas.b_url, "amina", PASSWORD) as console:
        first = FakeTelegram.text_update(next(_updates), HER_CHAT, conv["danger"])
        assert await FakeTelegram.post(a_url, first, HOOK_SECRET) == 200
        opened = await console.wait_for(lambda e: e["type"] == "case_opened" and e["case"]["channel"] == "telegram")
        await console.claim(opened["case"]["id"])
        await console.write(opened["case"]["id"], "Ana hna m3ak.")  # sent by gateway B
        await _until(lambda: any(m.get("text") == "Ana hna m3ak." for m in telegram.sent()))
        # Her turn on A (the numbers) may end after B's messages when the machine is busy: wait until it has.
        await _until(lambda: any("19" in m.get("text", "") for m in telegram.sent()), timeout=60)
        await _settled(lambda: len(telegram.issued[str(HER_CHAT)]))
        shown = [first["message"]["message_id"], *telegram.issued[str(HER_CHAT)]]
        assert len(shown) >= 4  # her words, the numbers (A), a counsellor joined, the counsellor's message (B)

        assert await FakeTelegram.post(a_url, FakeTelegram.text_update(next(_updates), HER_CHAT, "stop"),
                                       HOOK_SECRET) == 200
        await _until(lambda: set(shown) <= set(telegram.deleted(HER_CHAT)))


def _gateway_pid(stack: Stack) -> int:
    return stack.services()["gateway"]


async def test_a_gateway_restarted_mid_handoff_loses_nothing(replicas):
    conv = conversation("fr")
    async with ConsoleClient(replicas.b_url, "salma", PASSWORD) as console, \
            ChatClient(replicas.a.url, reconnect=True) as chat:
        await chat.say(conv["danger"])
        case_id = (await console.wait_for(lambda e: e["type"] == "case_opened"))["case"]["id"]
        await console.claim(case_id)
        await console.write(case_id, "Je suis là.")
        await _until(lambda: "Je suis là." in _her(chat, 0))

        old = _gateway_pid(replicas.a)
        joined = chat.confirmations
        subprocess.run(["kill", "-KILL", str(old)], check=True)
        start = len(chat.received)
        await console.write(case_id, "Je reste avec vous.")  # while her gateway is down
        await asyncio.to_thread(_wait_healthy, replicas.a.url, replicas.a.process)
        assert _gateway_pid(replicas.a) != old
        await _until(lambda: chat.confirmations > joined, timeout=30)  # she has rejoined her conversation
        await _until(lambda: _her(chat, start) == ["Je reste avec vous."])

        mark = len(console.events)
        await chat.send({"message": "je suis revenue", "session_id": chat.session_id})
        event = await console.wait_for(lambda e: e["type"] == "message" and e["message"]["text"] == "je suis revenue",
                                       start=mark)
        assert event["case"]["id"] == case_id and event["case"]["claimed_by"] == "salma"
        start = len(chat.received)
        await console.write(case_id, "Toujours là, continuons.")
        await _until(lambda: "Toujours là, continuons." in _her(chat, start))
        code, detail = await console.call("GET", f"/api/cases/{case_id}")
        said_there = [m["text"] for m in detail["messages"]]
        assert said_there.index("Je suis là.") < said_there.index("je suis revenue") < said_there.index(
            "Toujours là, continuons.")
        await console.close(case_id)


async def test_with_redis_down_cases_are_still_created_and_shown_when_it_returns(replicas):
    conv = conversation("fr")
    async with ConsoleClient(replicas.b_url, "amina", PASSWORD) as console:
        replicas.redis.stop()
        try:
            async with ChatClient(replicas.a.url) as chat:
                replies = await chat.say(conv["danger"])
                # She is answered even now, with the numbers, and her case is kept.
                assert "19" in texts(replies), texts(replies)
        finally:
            mark = len(console.events)
            replicas.redis.start()
        await console.wait_for(lambda e: e["type"] == "resync", start=mark, timeout=30)
        shown = [c for c in await console.cases("queued") if conv["danger"] in c["summary"]]
        assert shown and shown[0]["priority"] == "urgent"
        # And the queue is live again across the two gateways.
        async with ChatClient(replicas.a.url) as chat:
            await chat.say(conv["human"])
        await console.wait_for(lambda e: e["type"] == "case_opened" and conv["human"] in e["case"]["summary"],
                               start=mark)
    # Rasa failed on its lock store meanwhile: its error is in the log, her words are not.
    log = replicas.a.log()
    assert "rest.message.received.failure" in log or "rasa_no_reply" in log
    assert conv["danger"] not in log and conv["human"] not in log
