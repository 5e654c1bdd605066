"""`maak bench`: load benchmarks through the whole stack, used the way women and counsellors use it.

`--handoff` measures the figure that matters most: from an urgent message on the web chat to her
case on a counsellor's console (the `case_opened` event of `GET /api/console/ws`).
`--urgent-file FILE.tsv` sends each urgent message of a labelled set (`maak eval`'s format) on its
own web chat and counts how her case opened: at once, or one tap away (the bot asked the safety
question, whose "no, I'm not safe" button opens it), or not at all. Without either, ordinary conversations measure reply
latency and throughput. Either starts its own Maak, exactly
as `maak run` would (free ports, a scratch var dir, DATABASE_URL and REDIS_URL honoured), unless
given the URL of a running one, and prints one JSON report on stdout.

Every bench conversation ends with "forget me", so no fake case stays in the database; against a
running Maak its counsellors still see the bench's cases meanwhile: use a staging deployment.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence
from urllib.parse import urlsplit

import aiohttp
import socketio
import yaml

from core.settings import PROJECT_ROOT
from tools import stack
from tools.evaluate import EvalFileError, GoldRow, read_rows
from tools.training import model_for_data

TARGET_P99_MS = 500
DEFAULT_HANDOFF_CONVERSATIONS = 50
DEFAULT_CHAT_CONVERSATIONS = 20
DEFAULT_MESSAGES = 5
WARMUP_CONVERSATIONS = 5
EVENT_TIMEOUT_SECONDS = 30.0
REPLY_TIMEOUT_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 10.0
# The replies to one message arrive back to back; this much silence means her turn is over.
QUIET_SECONDS = 0.25

# Danger now, in the five language tags, as women write it; each is urgent for the danger-now decision
# (tests/test_bench.py checks it, with the number the bench appends to tell the cases apart).
URGENT_MESSAGES = (
    "il va me tuer, il a un couteau",
    "He is hitting me right now, help",
    "راه كيضربني دابا عتقوني",
    "إنه يضربني الآن ساعديني",
    "rah kaydrebni daba 3tqouni",
)
# Ordinary conversations, no danger: a greeting, a job search, her town (the bot asks for it),
# a question about her rights, thanks.
CONVERSATIONS = (
    ("bonjour", "je cherche du travail", "je suis à casablanca", "quels sont mes droits ?", "merci beaucoup"),
    ("hello", "i am looking for a job", "i live in rabat", "what are my rights?", "thank you"),
    ("سلام", "كنقلب على خدمة", "أنا فكازا", "بغيت نعرف حقوقي", "شكرا بزاف"),
    ("السلام عليكم", "أبحث عن عمل", "أسكن في طنجة", "ما هي حقوقي", "شكرا جزيلا"),
    ("salam", "bghit khedma", "ana mn casa", "bghit n3rf l7o9o9 dyali", "chokran bzaf"),
)
# The safety question ("are you safe right now?"), whose "no, I'm not safe" button opens her case.
SAFETY_QUESTION = "utter_ask_safe_now"
# How long the console waits for her case before it counts as not opened at once.
AT_ONCE_SECONDS = 10.0
# Sent at the end of every conversation, so that a bench against a shared database or a running
# Maak leaves no fake cases for counsellors (and no escalations to the on-call chats).
FORGET_ME = "forget me"


class BenchError(RuntimeError):
    """The benchmark could not run (no stack, no console API, bad credentials)."""


# -- the pure parts -------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile: a latency some conversation really had, never an interpolation."""
    if not 0 < q <= 100:
        raise ValueError(f"a percentile is in (0, 100], not {q}")
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(q / 100 * len(ordered)), 1) - 1]


def latency_summary(latencies_ms: Sequence[float]) -> dict[str, float | None]:
    """p50, p90, p99 and max in milliseconds, rounded to 0.1 ms (None when nothing was measured)."""

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    return {
        "p50_ms": rounded(percentile(latencies_ms, 50)),
        "p90_ms": rounded(percentile(latencies_ms, 90)),
        "p99_ms": rounded(percentile(latencies_ms, 99)),
        "max_ms": rounded(max(latencies_ms, default=None)),
    }


def handoff_report(
    conversations: int,
    latencies_ms: Sequence[float],
    missing: Sequence[str],
    store: str | None,
    bus: str | None,
    reply_latencies_ms: Sequence[float] = (),
    processes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The `--handoff` report; `met` only when every case arrived and p99 is within the target."""
    summary = latency_summary(latencies_ms)
    replies = latency_summary(reply_latencies_ms)
    p99 = summary["p99_ms"]
    report: dict[str, Any] = {
        "benchmark": "handoff",
        "conversations": conversations,
        "opened": len(latencies_ms),
        **summary,
        "store": store,
        "bus": bus,
        "target_p99_ms": TARGET_P99_MS,
        "met": not missing and p99 is not None and p99 <= TARGET_P99_MS,
        "missing": list(missing),
        # Her first reply (the emergency numbers) comes after the case is opened: same turn.
        "first_reply_p50_ms": replies["p50_ms"],
        "first_reply_p99_ms": replies["p99_ms"],
    }
    if processes is not None:
        report["processes"] = processes
    return report


def chat_report(
    conversations: int,
    messages_per_conversation: int,
    latencies_ms: Sequence[float],
    unanswered: int,
    duration_s: float,
    store: str | None,
    bus: str | None,
    processes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The general report: reply latency (to her first reply bubble) and throughput."""
    report: dict[str, Any] = {
        "benchmark": "chat",
        "conversations": conversations,
        "messages_per_conversation": messages_per_conversation,
        "messages": conversations * messages_per_conversation,
        "answered": len(latencies_ms),
        "unanswered": unanswered,
        **latency_summary(latencies_ms),
        "duration_s": round(duration_s, 2),
        "throughput_msg_s": round(len(latencies_ms) / duration_s, 2) if duration_s > 0 else None,
        "quiet_ms_between_messages": int(QUIET_SECONDS * 1000),
        "store": store,
        "bus": bus,
    }
    if processes is not None:
        report["processes"] = processes
    return report


def urgent_file_report(outcomes: Sequence[tuple[str, str, str]]) -> dict[str, Any]:
    """The `--urgent-file` report from (lang, kind, how) per message, how being `at_once`,
    `after_question` (not opened, but the safety question offered the button) or `missed`."""

    def shares(rows: Sequence[tuple[str, str, str]]) -> dict[str, Any]:
        at_once = sum(how == "at_once" for _, _, how in rows)
        asked = sum(how == "after_question" for _, _, how in rows)
        return {
            "messages": len(rows),
            "at_once": at_once,
            "after_question": asked,
            "at_once_share": round(at_once / len(rows), 4) if rows else None,
            "with_question_share": round((at_once + asked) / len(rows), 4) if rows else None,
        }

    langs = sorted({lang for lang, _, _ in outcomes})
    return {
        "benchmark": "urgent_file",
        **shares(outcomes),
        "by_lang": {lang: shares([o for o in outcomes if o[0] == lang]) for lang in langs},
        # The set's own labels, never the texts: a report may be pasted anywhere.
        "missed": [{"lang": lang, "kind": kind} for lang, kind, how in outcomes if how == "missed"],
    }


def safety_question_texts() -> set[str]:
    """The safety question in every language tag, as the domain words it."""
    responses = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]
    return {variant["text"].strip() for variant in responses[SAFETY_QUESTION]}


def urgent_message(number: int) -> str:
    """The `number`th urgent message (1-based), made unique so her case can be recognised."""
    return f"{URGENT_MESSAGES[(number - 1) % len(URGENT_MESSAGES)]} ({number})"


def conversation_script(number: int, messages: int) -> list[str]:
    """The `messages` ordinary messages of conversation `number`, its language chosen in turn."""
    script = CONVERSATIONS[(number - 1) % len(CONVERSATIONS)]
    return [script[i % len(script)] for i in range(messages)]


def store_kind(database_url: str | None) -> str:
    if not database_url:
        return "sqlite"
    scheme = urlsplit(database_url).scheme.split("+")[0]
    return "postgresql" if scheme in ("postgres", "postgresql") else scheme


# -- the processes of a Maak this bench started ---------------------------------------------------


def _proc_status(pid: int) -> dict[str, str]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return dict(line.split(":", 1) for line in lines if ":" in line)


def memory_mb(pid: int) -> tuple[float, float] | None:
    """(resident now, resident peak) in MB, from /proc (psutil is not a dependency)."""
    status = _proc_status(pid)
    try:
        rss, peak = (int(status[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM"))
    except (KeyError, ValueError, IndexError):
        return None
    return round(rss, 1), round(peak, 1)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time the process has used so far."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; the fields after it are fixed.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Target:
    """The Maak under load, and what is known about it."""

    url: str
    username: str | None = None
    password: str | None = None
    store: str | None = None
    bus: str | None = None
    # Name → pid, only for a Maak this bench started (memory and CPU are read from /proc).
    pids: dict[str, int] = field(default_factory=dict)

    def cpu(self) -> dict[str, float | None]:
        return {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def processes(self, cpu_before: dict[str, float | None]) -> dict[str, Any] | None:
        """Memory now and at peak, and CPU seconds spent since `cpu_before`, per process."""
        if not self.pids:
            return None
        report: dict[str, Any] = {}
        for name, pid in sorted(self.pids.items()):
            memory = memory_mb(pid)
            now, before = cpu_seconds(pid), cpu_before.get(name)
            report[name] = {
                "rss_mb": memory[0] if memory else None,
                "peak_rss_mb": memory[1] if memory else None,
                "cpu_s": round(now - before, 2) if now is not None and before is not None else None,
            }
        return report


@contextmanager
def embedded_stack() -> Iterator[Target]:
    """A Maak started as `maak run` would, with a counsellor account for the bench; always stopped."""
    with tempfile.TemporaryDirectory(prefix="maak-bench-") as workdir:
        folder = Path(workdir)
        (folder / "var").mkdir()
        env = stack.environment(folder / "var")
        database_url = env.get("DATABASE_URL") or None
        username, password = f"bench-{secrets.token_hex(3)}", secrets.token_urlsafe(18)
        # Before the stack, so that the account and the schema exist when the gateway starts.
        created = subprocess.run(
            [sys.executable, "-m", "cli", "user", "add", username, "--role", "counsellor"],
            input=password + "\n", cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
        )  # fmt: skip
        if created.returncode != 0:
            raise BenchError(f"could not create the bench account: {created.stderr.strip()[-500:]}")
        timeout = stack.START_TIMEOUT_SECONDS
        if not model_for_data(Path(env.get("MAAK_MODELS_DIR") or PROJECT_ROOT / "models")).exists():
            print("maak: no model for the current data yet: `maak run` trains it first", file=sys.stderr)
            timeout = stack.TRAINING_START_TIMEOUT_SECONDS
        try:
            running = stack.start(folder, env, timeout)
        except stack.StackError as exc:
            raise BenchError(str(exc)) from exc
        try:
            yield Target(
                url=running.url,
                username=username,
                password=password,
                store=store_kind(database_url),
                bus="redis" if env.get("REDIS_URL") else "in-process",
                pids=running.services(),
            )
        finally:
            stack.stop(running)
            if database_url:
                # A shared database keeps no bench account behind (the scratch SQLite goes with its folder).
                subprocess.run([sys.executable, "-m", "cli", "user", "remove", username],
                               cwd=PROJECT_ROOT, env=env, capture_output=True)


# -- the clients ----------------------------------------------------------------------------------


class ChatSession:
    """One woman on the web chat, speaking Rasa's socketio protocol; records when replies arrive."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session_id = uuid.uuid4().hex
        self._sio = socketio.AsyncClient(reconnection=False)
        self._replies: asyncio.Queue[float] = asyncio.Queue()
        self.texts: list[str] = []  # the texts of the replies since the last `send`
        self._sio.on("bot_uttered", self._on_reply)

    async def _on_reply(self, data: Any) -> None:
        self._replies.put_nowait(time.perf_counter())
        if isinstance(data, dict) and isinstance(data.get("text"), str):
            self.texts.append(data["text"].strip())

    async def open(self) -> None:
        confirmed = asyncio.Event()
        self._sio.on("session_confirm", lambda _data: confirmed.set())
        await self._sio.connect(self.url, socketio_path="socket.io", transports=["websocket"])
        await self._sio.emit("session_request", {"session_id": self.session_id})
        await asyncio.wait_for(confirmed.wait(), timeout=CONNECT_TIMEOUT_SECONDS)

    async def close(self) -> None:
        await self._sio.disconnect()

    async def send(self, text: str) -> float:
        """Send `text`; returns the moment it was sent (perf_counter seconds)."""
        while not self._replies.empty():
            # A late bubble of the previous turn must not count as the reply to this one.
            self._replies.get_nowait()
        self.texts.clear()
        sent = time.perf_counter()
        await self._sio.emit("user_uttered", {"message": text, "session_id": self.session_id})
        return sent

    async def first_reply(self, timeout: float = REPLY_TIMEOUT_SECONDS) -> float:
        """The moment the first reply since `send` arrived; raises TimeoutError."""
        return await asyncio.wait_for(self._replies.get(), timeout=timeout)

    async def rest_of_turn(self) -> None:
        """Wait until the bot has been quiet for QUIET_SECONDS (the turn's remaining bubbles)."""
        while True:
            try:
                await asyncio.wait_for(self._replies.get(), timeout=QUIET_SECONDS)
            except asyncio.TimeoutError:
                return

    async def say_and_wait(self, text: str) -> float | None:
        """Send `text`, wait for the whole reply; the latency to its first bubble in ms, or None."""
        sent = await self.send(text)
        try:
            arrived = await self.first_reply()
        except asyncio.TimeoutError:
            return None
        await self.rest_of_turn()
        return (arrived - sent) * 1000


class Console:
    """A counsellor's console: logged in over HTTP, listening to the live events WebSocket.

    Records when each case was opened, and the texts by which the bench recognises it: the case
    summary (her words), and her messages on the case in case the summary is empty.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.opened: dict[int, float] = {}
        self.texts: dict[int, set[str]] = {}
        self.changed = asyncio.Event()
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse[bool] | None = None
        self._reader: asyncio.Task[None] | None = None

    async def open(self, username: str, password: str) -> None:
        # unsafe=True: the cookie jar otherwise refuses cookies from an IP address such as 127.0.0.1.
        self._http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        async with self._http.post(
            f"{self.url}/api/auth/login", json={"username": username, "password": password}
        ) as response:
            if response.status == 404:
                raise BenchError(f"{self.url} has no console API (POST /api/auth/login: 404)")
            if response.status != 200:
                raise BenchError(f"login as {username!r} refused ({response.status}: {await response.text()})")
        ws = self._ws = await self._http.ws_connect(f"{self.url}/api/console/ws", heartbeat=20)
        hello = await ws.receive_json(timeout=CONNECT_TIMEOUT_SECONDS)
        if hello.get("type") != "hello":
            raise BenchError(f"the console WebSocket did not say hello: {hello}")
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._ws is not None
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            # The arrival time first: decoding is the bench's cost, not Maak's.
            arrived = time.perf_counter()
            event = json.loads(message.data)
            case = event.get("case") or {}
            case_id = case.get("id")
            if case_id is None:
                continue
            texts = self.texts.setdefault(case_id, set())
            texts.update(line.strip() for line in (case.get("summary") or "").splitlines())
            if event.get("type") == "case_opened":
                self.opened.setdefault(case_id, arrived)
            elif event.get("type") == "message" and (event.get("message") or {}).get("author") == "user":
                texts.add((event["message"].get("text") or "").strip())
            self.changed.set()

    def arrival_of(self, text: str) -> float | None:
        """When the case carrying `text` was opened on this console, if it was."""
        for case_id, arrived in self.opened.items():
            if text in self.texts.get(case_id, ()):
                return arrived
        return None

    async def wait_for(self, texts: Sequence[str], timeout: float) -> dict[str, float]:
        """Arrival times of the cases carrying `texts`, as many as arrive within `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = {text: at for text in texts if (at := self.arrival_of(text)) is not None}
            remaining = deadline - loop.time()
            if len(found) == len(texts) or remaining <= 0:
                return found
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), timeout=remaining)
            except asyncio.TimeoutError:
                pass

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._http is not None:
            await self._http.close()


async def _open_sessions(url: str, count: int) -> list[ChatSession]:
    sessions = [ChatSession(url) for _ in range(count)]
    try:
        await asyncio.gather(*(s.open() for s in sessions))
    except Exception:
        await _close_sessions(sessions)
        raise
    return sessions


async def _close_sessions(sessions: Sequence[ChatSession], forget: bool = False) -> None:
    async def close(session: ChatSession) -> None:
        try:
            if forget:
                await session.say_and_wait(FORGET_ME)
        finally:
            await session.close()

    await asyncio.gather(*(close(s) for s in sessions), return_exceptions=True)


# -- the benchmarks -------------------------------------------------------------------------------


async def _bus_of(url: str) -> str | None:
    """A running Maak's bus, from its /health parts (Redis is a part only when configured)."""
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{url}/health") as response:
            parts = (await response.json()).get("parts") or {}
    except (aiohttp.ClientError, ValueError):
        return None
    return "redis" if "redis" in parts else "in-process"


async def bench_handoff(target: Target, conversations: int) -> dict[str, Any]:
    """N women write an urgent message at the same moment; time each one to her case on the console."""
    if not (target.username and target.password):
        raise BenchError("--handoff needs a counsellor account (--username, --password)")
    console = Console(target.url)
    await console.open(target.username, target.password)
    sessions: list[ChatSession] = []
    try:
        # Warm-up, one at a time and apart from the load: after a start, these are the first
        # urgent messages Maak sees (`warmup_ms`: anything left cold shows there).
        warmup_ms: list[float | None] = []
        for number in range(1, WARMUP_CONVERSATIONS + 1):
            warm = await _open_sessions(target.url, 1)
            sessions += warm
            at = await warm[0].send(urgent_message(number))
            opened = (await console.wait_for([urgent_message(number)], EVENT_TIMEOUT_SECONDS)).get(urgent_message(number))
            warmup_ms.append(round((opened - at) * 1000, 1) if opened is not None else None)
            await warm[0].first_reply()
            await warm[0].rest_of_turn()

        measured = await _open_sessions(target.url, conversations)
        sessions += measured
        texts = [urgent_message(WARMUP_CONVERSATIONS + i) for i in range(1, conversations + 1)]
        cpu_before, own_cpu = target.cpu(), time.process_time()
        sent = await asyncio.gather(*(s.send(t) for s, t in zip(measured, texts)))
        replied = asyncio.gather(*(s.first_reply(EVENT_TIMEOUT_SECONDS) for s in measured), return_exceptions=True)
        arrived = await console.wait_for(texts, EVENT_TIMEOUT_SECONDS)
        replies = await replied
        await asyncio.gather(*(s.rest_of_turn() for s in measured))
        # After the whole turn: the CPU each process spent on these urgent messages.
        processes = target.processes(cpu_before)
        own_cpu = time.process_time() - own_cpu
    finally:
        await _close_sessions(sessions, forget=True)
        await console.close()

    latencies = [(arrived[t] - at) * 1000 for t, at in zip(texts, sent) if t in arrived]
    reply_latencies = [(r - at) * 1000 for r, at in zip(replies, sent) if isinstance(r, float)]
    missing = [t for t in texts if t not in arrived]
    bus = target.bus or await _bus_of(target.url)
    report = handoff_report(conversations, latencies, missing, target.store, bus, reply_latencies, processes)
    # The load generator shares the machine: its own CPU says how much it competed with Maak.
    return {**report, "warmup_ms": warmup_ms, "bench_cpu_s": round(own_cpu, 2)}


async def bench_urgent_file(target: Target, rows: Sequence[GoldRow]) -> dict[str, Any]:
    """Each urgent message of a labelled set, alone on its own web chat: did her case open?"""
    if not (target.username and target.password):
        raise BenchError("--urgent-file needs a counsellor account (--username, --password)")
    question = safety_question_texts()
    console = Console(target.url)
    await console.open(target.username, target.password)
    outcomes: list[tuple[str, str, str]] = []
    try:
        for row in rows:
            [session] = await _open_sessions(target.url, 1)
            try:
                await session.send(row.text)
                opened = await console.wait_for([row.text.strip()], AT_ONCE_SECONDS)
                try:
                    await session.first_reply()
                except asyncio.TimeoutError:
                    pass
                await session.rest_of_turn()
            finally:
                asked = any(text in question for text in session.texts)
                await _close_sessions([session], forget=True)
            how = "at_once" if opened else "after_question" if asked else "missed"
            outcomes.append((row.lang, row.kind or "", how))
    finally:
        await console.close()
    return urgent_file_report(outcomes)


async def bench_chat(target: Target, conversations: int, messages: int) -> dict[str, Any]:
    """N women hold ordinary conversations at once, each writing again when the reply is complete."""
    warm = await _open_sessions(target.url, WARMUP_CONVERSATIONS)
    for number, session in enumerate(warm, 1):
        await session.say_and_wait(conversation_script(number, 1)[0])
    await _close_sessions(warm, forget=True)

    sessions = await _open_sessions(target.url, conversations)

    async def converse(number: int, session: ChatSession) -> list[float | None]:
        return [await session.say_and_wait(text) for text in conversation_script(number, messages)]

    try:
        cpu_before, own_cpu = target.cpu(), time.process_time()
        started = time.perf_counter()
        results = await asyncio.gather(*(converse(n, s) for n, s in enumerate(sessions, 1)))
        duration = time.perf_counter() - started
        processes = target.processes(cpu_before)
        own_cpu = time.process_time() - own_cpu
    finally:
        await _close_sessions(sessions, forget=True)

    latencies = [ms for turns in results for ms in turns if ms is not None]
    unanswered = sum(ms is None for turns in results for ms in turns)
    bus = target.bus or await _bus_of(target.url)
    report = chat_report(conversations, messages, latencies, unanswered, duration, target.store, bus, processes)
    return {**report, "bench_cpu_s": round(own_cpu, 2)}


def bench(
    *,
    handoff: bool,
    conversations: int | None = None,
    messages: int = DEFAULT_MESSAGES,
    url: str | None = None,
    username: str | None = None,
    password: str | None = None,
    urgent_file: Path | None = None,
) -> int:
    """Run one benchmark, print its JSON report; 0 when every message was answered (every case
    arrived with `--handoff`, every urgent message's case opened or was one tap away with
    `--urgent-file`), 1 otherwise, 2 when it could not run."""
    rows: list[GoldRow] = []
    if urgent_file is not None:
        try:
            rows = [row for row in read_rows(urgent_file) if row.urgent]
        except (OSError, EvalFileError) as exc:
            print(f"maak: {exc}", file=sys.stderr)
            return 2
        if not rows:
            print(f"maak: {urgent_file} has no urgent message (column urgent = 1)", file=sys.stderr)
            return 2
    if conversations is None:
        conversations = DEFAULT_HANDOFF_CONVERSATIONS if handoff else DEFAULT_CHAT_CONVERSATIONS
    if conversations < 1 or messages < 1:
        print("maak: --conversations and --messages must be at least 1", file=sys.stderr)
        return 2

    def run(target: Target) -> dict[str, Any]:
        if rows:
            return asyncio.run(bench_urgent_file(target, rows))
        work = bench_handoff(target, conversations) if handoff else bench_chat(target, conversations, messages)
        return asyncio.run(work)

    try:
        if url is None:
            with embedded_stack() as target:
                report = run(target)
        else:
            report = run(Target(url=url.rstrip("/"), username=username, password=password))
    except (BenchError, OSError, asyncio.TimeoutError, aiohttp.ClientError, socketio.exceptions.ConnectionError) as exc:
        print(f"maak: bench failed: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, ensure_ascii=False))
    if rows:
        complete = not report["missed"]
    else:
        complete = not report["missing"] if handoff else report["unanswered"] == 0
    return 0 if complete else 1
