"""`maak bench`: load benchmarks through the whole stack, used the way women and counsellors use it.

`--handoff` measures the figure that matters most: from an urgent message on the web chat to her
case on a counsellor's console (the `case_opened` event of `GET /api/console/ws`).
`--flood` plays one attacker on the anonymous web chat: one socket sends `--messages` (default 1,500)
messages of 60 KB as fast as it can while `--conversations` (default 25) new conversations open at
once with an urgent message, from the same address, per-address limits on; it reports what the
gateway's memory peaked at, what one case kept and costs the console to read, and whether a woman
chatting meanwhile was still answered.
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
from tools.clients import ChatClient, ConsoleClient, ConsoleRefused
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
# The flood: messages of this size, on one socket, sent without waiting for replies.
FLOOD_MESSAGES = 1500
FLOOD_CONVERSATIONS = 25
FLOOD_CHARS = 60_000
# The client queues what it emits and writes it behind the caller's back; a moment between two
# messages lets the flooder see that the gateway closed its socket, and come back, as a script would.
FLOOD_PAUSE_SECONDS = 0.005
# How long the flood's messages may take to settle on her case before the bench reads it.
FLOOD_SETTLE_SECONDS = 180.0


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
def embedded_stack(overrides: dict[str, str] | None = None) -> Iterator[Target]:
    """A Maak started as `maak run` would (with `overrides` of its environment), with a counsellor
    account for the bench; always stopped."""
    with tempfile.TemporaryDirectory(prefix="maak-bench-") as workdir:
        folder = Path(workdir)
        (folder / "var").mkdir()
        env = stack.environment(folder / "var", overrides)
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


async def _open_sessions(url: str, count: int) -> list[ChatClient]:
    sessions = [ChatClient(url, quiet_seconds=QUIET_SECONDS) for _ in range(count)]
    try:
        await asyncio.gather(*(s.open() for s in sessions))
    except Exception:
        await _close_sessions(sessions)
        raise
    return sessions


async def _close_sessions(sessions: Sequence[ChatClient], forget: bool = False) -> None:
    async def close(session: ChatClient) -> None:
        try:
            if forget:
                await _timed_turn(session, FORGET_ME)
        finally:
            await session.close()

    await asyncio.gather(*(close(s) for s in sessions), return_exceptions=True)


async def _timed_turn(session: ChatClient, text: str) -> float | None:
    """Send `text`, wait for the whole reply; the latency to its first bubble in ms, or None."""
    start = len(session.received)
    sent = await session.write(text)
    try:
        arrived = await session.first_reply_since(start, REPLY_TIMEOUT_SECONDS)
    except asyncio.TimeoutError:
        return None
    await session.quiet()
    return (arrived - sent) * 1000


async def _open_console(target: Target) -> ConsoleClient:
    assert target.username and target.password
    console = ConsoleClient(target.url, target.username, target.password)
    try:
        await console.open()
    except ConsoleRefused as exc:
        raise BenchError(str(exc)) from exc
    return console


def _case_texts(event: dict[str, Any]) -> set[str]:
    """The texts by which the bench recognises a case: its summary (her words), and her messages
    on it in case the summary is empty."""
    case = event.get("case") or {}
    found = {line.strip() for line in (case.get("summary") or "").splitlines()}
    message = event.get("message") or {}
    if event.get("type") == "message" and message.get("author") == "user":
        found.add((message.get("text") or "").strip())
    return found


async def _cases_opened(console: ConsoleClient, texts: Sequence[str], timeout: float) -> dict[str, float]:
    """When the case carrying each of `texts` was opened on the console, for those opened within `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        opened: dict[int, float] = {}
        known: dict[int, set[str]] = {}
        for event, arrived in zip(console.events, console.arrivals):
            case_id = (event.get("case") or {}).get("id")
            if case_id is None:
                continue
            known.setdefault(case_id, set()).update(_case_texts(event))
            if event.get("type") == "case_opened":
                opened.setdefault(case_id, arrived)
        found = {text: at for case_id, at in opened.items() for text in texts if text in known.get(case_id, ())}
        remaining = deadline - loop.time()
        if len(found) == len(texts) or remaining <= 0:
            return found
        await console.changed(remaining)


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
    console = await _open_console(target)
    sessions: list[ChatClient] = []
    try:
        # Warm-up, one at a time and apart from the load: after a start, these are the first
        # urgent messages Maak sees (`warmup_ms`: anything left cold shows there).
        warmup_ms: list[float | None] = []
        for number in range(1, WARMUP_CONVERSATIONS + 1):
            warm = await _open_sessions(target.url, 1)
            sessions += warm
            at = await warm[0].write(urgent_message(number))
            opened = (await _cases_opened(console, [urgent_message(number)], EVENT_TIMEOUT_SECONDS)).get(urgent_message(number))
            warmup_ms.append(round((opened - at) * 1000, 1) if opened is not None else None)
            await warm[0].first_reply_since(0, REPLY_TIMEOUT_SECONDS)
            await warm[0].quiet()

        measured = await _open_sessions(target.url, conversations)
        sessions += measured
        texts = [urgent_message(WARMUP_CONVERSATIONS + i) for i in range(1, conversations + 1)]
        cpu_before, own_cpu = target.cpu(), time.process_time()
        sent = await asyncio.gather(*(s.write(t) for s, t in zip(measured, texts)))
        replied = asyncio.gather(*(s.first_reply_since(0, EVENT_TIMEOUT_SECONDS) for s in measured),
                                 return_exceptions=True)
        arrived = await _cases_opened(console, texts, EVENT_TIMEOUT_SECONDS)
        replies = await replied
        await asyncio.gather(*(s.quiet() for s in measured))
        # After the whole turn: the CPU each process spent on these urgent messages.
        processes = target.processes(cpu_before)
        own_cpu = time.process_time() - own_cpu
    finally:
        await _close_sessions(sessions, forget=True)
        await console.close_session()

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
    console = await _open_console(target)
    outcomes: list[tuple[str, str, str]] = []
    try:
        for row in rows:
            [session] = await _open_sessions(target.url, 1)
            try:
                await session.write(row.text)
                opened = await _cases_opened(console, [row.text.strip()], AT_ONCE_SECONDS)
                try:
                    await session.first_reply_since(0, REPLY_TIMEOUT_SECONDS)
                except asyncio.TimeoutError:
                    pass
                await session.quiet()
            finally:
                asked = any((reply.get("text") or "").strip() in question for reply in session.received)
                await _close_sessions([session], forget=True)
            how = "at_once" if opened else "after_question" if asked else "missed"
            outcomes.append((row.lang, row.kind or "", how))
    finally:
        await console.close_session()
    return urgent_file_report(outcomes)


async def bench_chat(target: Target, conversations: int, messages: int) -> dict[str, Any]:
    """N women hold ordinary conversations at once, each writing again when the reply is complete."""
    warm = await _open_sessions(target.url, WARMUP_CONVERSATIONS)
    for number, session in enumerate(warm, 1):
        await _timed_turn(session, conversation_script(number, 1)[0])
    await _close_sessions(warm, forget=True)

    sessions = await _open_sessions(target.url, conversations)

    async def converse(number: int, session: ChatClient) -> list[float | None]:
        return [await _timed_turn(session, text) for text in conversation_script(number, messages)]

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


async def _case_size(console: ConsoleClient, case_id: int) -> tuple[int, int]:
    """How many messages a case keeps (read page by page, as the console does), and the bytes of
    its first page."""
    count, first_page, before = 0, 0, ""
    while True:
        async with console.http.get(f"{console.url}/api/cases/{case_id}{before}") as response:
            body = await response.read()
        page = json.loads(body)
        first_page = first_page or len(body)
        count += len(page["messages"])
        if not page.get("more") or not page["messages"]:
            return count, first_page
        before = f"?before={page['messages'][0]['id']}"


async def _settled_case(console: ConsoleClient, timeout: float) -> tuple[int | None, int, int]:
    """The case a flood's messages are kept on (the only one opened for messages the bot did not
    read) once its message count stops growing: its id, how many messages it keeps, and the bytes
    of its first console page."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    case_id, kept, size = None, -1, 0
    while loop.time() < deadline:
        for case in await console.cases():
            if case.get("category") == "unanswered":
                case_id = case["id"]
        if case_id is not None:
            count, size = await _case_size(console, case_id)
            if count == kept:
                return case_id, kept, size
            kept = count
        await asyncio.sleep(3)
    return case_id, max(kept, 0), size


async def bench_flood(target: Target, messages: int, conversations: int) -> dict[str, Any]:
    """One address floods the anonymous web chat; a woman elsewhere keeps chatting."""
    if not (target.username and target.password):
        raise BenchError("--flood needs a counsellor account (--username, --password)")
    console = await _open_console(target)
    [her] = await _open_sessions(target.url, 1)
    sessions = [her]
    try:
        before = await _timed_turn(her, CONVERSATIONS[0][0])
        cpu_before = target.cpu()
        [flooder] = await _open_sessions(target.url, 1)
        sessions.append(flooder)
        flooded = flooder.session_id
        filler = "x" * FLOOD_CHARS
        started = time.perf_counter()
        sent = reconnects = 0
        while sent < messages:
            # Closed for sending faster than it is answered, the attacker comes straight back.
            try:
                if not flooder.sio.connected:
                    # A new connection to the same conversation, as a script would open one.
                    reconnects += 1
                    flooder = ChatClient(target.url, quiet_seconds=QUIET_SECONDS)
                    flooder.session_id = flooded
                    sessions.append(flooder)
                    await flooder.open()
                await flooder.send({"message": f"flood {sent} {filler}"})
            except (socketio.exceptions.SocketIOError, asyncio.TimeoutError):
                await asyncio.sleep(0.1)
                continue
            sent += 1
            await asyncio.sleep(FLOOD_PAUSE_SECONDS)
        sent_s = time.perf_counter() - started
        burst = await _open_sessions(target.url, conversations)
        sessions += burst
        texts = [urgent_message(number) for number in range(1, conversations + 1)]
        await asyncio.gather(*(s.write(t) for s, t in zip(burst, texts)))
        during = await _timed_turn(her, CONVERSATIONS[0][1])
        opened = await _cases_opened(console, texts, EVENT_TIMEOUT_SECONDS)
        replies = await asyncio.gather(*(s.first_reply_since(0, EVENT_TIMEOUT_SECONDS) for s in burst),
                                       return_exceptions=True)
        answered = sum(isinstance(r, float) for r in replies)
        case_id, kept, page_bytes = await _settled_case(console, FLOOD_SETTLE_SECONDS)
        processes = target.processes(cpu_before)
    finally:
        await _close_sessions(sessions, forget=True)
        await console.close_session()
    return {
        "benchmark": "flood",
        "flood_messages": messages,
        "flood_chars_each": FLOOD_CHARS,
        "flood_sent_s": round(sent_s, 2),
        "flood_socket_closed_times": reconnects,
        "flood_case_found": case_id is not None,
        "flood_messages_kept": kept,
        "flood_case_first_page_kb": round(page_bytes / 1024, 1),
        "burst_conversations": conversations,
        "burst_answered": answered,
        "burst_cases_opened": len(opened),
        "her_reply_ms_before": round(before, 1) if before is not None else None,
        "her_reply_ms_during": round(during, 1) if during is not None else None,
        "store": target.store,
        "processes": processes,
    }


def bench(
    *,
    handoff: bool,
    conversations: int | None = None,
    messages: int | None = None,
    url: str | None = None,
    username: str | None = None,
    password: str | None = None,
    urgent_file: Path | None = None,
    flood: bool = False,
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
        conversations = FLOOD_CONVERSATIONS if flood else DEFAULT_HANDOFF_CONVERSATIONS if handoff else DEFAULT_CHAT_CONVERSATIONS
    if messages is None:
        messages = FLOOD_MESSAGES if flood else DEFAULT_MESSAGES
    if conversations < 1 or messages < 1:
        print("maak: --conversations and --messages must be at least 1", file=sys.stderr)
        return 2

    def run(target: Target) -> dict[str, Any]:
        if rows:
            return asyncio.run(bench_urgent_file(target, rows))
        if flood:
            return asyncio.run(bench_flood(target, messages, conversations))
        work = bench_handoff(target, conversations) if handoff else bench_chat(target, conversations, messages)
        return asyncio.run(work)

    try:
        if url is None:
            # The flood comes from loopback like every bench chat: here loopback is not exempt.
            with embedded_stack({"MAAK_CHAT_LIMITS_EXEMPT": ""} if flood else None) as target:
                report = run(target)
        else:
            report = run(Target(url=url.rstrip("/"), username=username, password=password))
    except (BenchError, OSError, asyncio.TimeoutError, aiohttp.ClientError, socketio.exceptions.ConnectionError) as exc:
        print(f"maak: bench failed: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, ensure_ascii=False))
    if rows:
        complete = not report["missed"]
    elif flood:
        complete = report["burst_answered"] == conversations and report["her_reply_ms_during"] is not None
    else:
        complete = not report["missing"] if handoff else report["unanswered"] == 0
    return 0 if complete else 1
