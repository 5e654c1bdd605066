"""`maak bench`: the pure parts quickly, then the handoff benchmark end to end on the embedded defaults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT
from nlu.commands import command
from nlu.danger import assess
from nlu.langid import identify
from tools.bench import (
    CONVERSATIONS,
    TARGET_P99_MS,
    URGENT_MESSAGES,
    chat_report,
    conversation_script,
    cpu_seconds,
    handoff_report,
    latency_summary,
    memory_mb,
    percentile,
    safety_question_texts,
    store_kind,
    urgent_file_report,
    urgent_message,
)
from tools.stack import free_port, service_name, service_pids

HANDOFF_KEYS = {
    "benchmark", "conversations", "opened", "p50_ms", "p90_ms", "p99_ms", "max_ms", "store", "bus",
    "target_p99_ms", "met", "missing",
}  # fmt: skip


def test_percentile_is_nearest_rank() -> None:
    values = list(range(100, 0, -1))  # 1..100, unsorted
    assert percentile(values, 50) == 50
    assert percentile(values, 90) == 90
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    # With few samples p99 is the worst one: a latency someone really had.
    assert percentile([10.0, 30.0, 20.0], 99) == 30.0
    assert percentile([10.0, 30.0, 20.0], 50) == 20.0
    assert percentile([7.0], 1) == 7.0


def test_percentile_of_nothing_and_bad_ranks() -> None:
    assert percentile([], 50) is None
    for bad in (0, -1, 101):
        with pytest.raises(ValueError):
            percentile([1.0], bad)


def test_latency_summary_rounds_and_handles_no_samples() -> None:
    assert latency_summary([1.234, 2.345, 10.06]) == {"p50_ms": 2.3, "p90_ms": 10.1, "p99_ms": 10.1, "max_ms": 10.1}
    assert latency_summary([]) == {"p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}


def test_handoff_report_shape_and_target() -> None:
    report = handoff_report(3, [100.0, 200.0, 300.0], [], "sqlite", "in-process")
    assert HANDOFF_KEYS <= set(report)
    assert report["benchmark"] == "handoff"
    assert report["conversations"] == 3 and report["opened"] == 3
    assert report["p99_ms"] == 300.0 and report["target_p99_ms"] == TARGET_P99_MS
    assert report["met"] is True and report["missing"] == []
    assert "processes" not in report
    json.dumps(report)

    slow = handoff_report(2, [100.0, TARGET_P99_MS + 1], [], "postgresql", "redis")
    assert slow["met"] is False
    lost = handoff_report(2, [100.0], ["il va me tuer, il a un couteau (3)"], "sqlite", "in-process")
    assert lost["opened"] == 1 and lost["met"] is False and lost["missing"] == ["il va me tuer, il a un couteau (3)"]
    nothing = handoff_report(2, [], ["a", "b"], None, None)
    assert nothing["p99_ms"] is None and nothing["met"] is False


def test_chat_report_throughput() -> None:
    report = chat_report(2, 3, [50.0] * 6, 0, 2.0, "sqlite", "in-process", {"gateway": {"rss_mb": 90.0}})
    assert report["benchmark"] == "chat"
    assert report["messages"] == 6 and report["answered"] == 6 and report["unanswered"] == 0
    assert report["throughput_msg_s"] == 3.0
    assert report["p50_ms"] == 50.0
    assert report["processes"] == {"gateway": {"rss_mb": 90.0}}


def test_urgent_messages_are_urgent_distinct_and_in_five_languages() -> None:
    texts = [urgent_message(n) for n in range(1, 60)]
    assert len(set(texts)) == len(texts)
    for text in texts:
        assert assess(text).urgent, text
    # The number the bench appends must not change how her language is read.
    tags = {identify(urgent_message(n)).tag for n in range(1, len(URGENT_MESSAGES) + 1)}
    assert tags == {"fr", "en", "ary", "ar", "ary-Latn"}


def test_ordinary_conversations_carry_no_danger_and_no_command() -> None:
    for script in CONVERSATIONS:
        for text in script:
            assert not assess(text).urgent, text
            assert command(text) is None, text
    assert conversation_script(1, 7) == [*CONVERSATIONS[0], *CONVERSATIONS[0][:2]]
    assert conversation_script(len(CONVERSATIONS) + 2, 1) == [CONVERSATIONS[1][0]]


def test_urgent_file_report_counts_each_way_her_case_opened() -> None:
    report = urgent_file_report(
        [("ar", "weapon", "at_once"), ("ar", "injury", "after_question"), ("en", "hiding", "missed")]
    )
    assert report["messages"] == 3 and report["at_once"] == 1 and report["after_question"] == 1
    assert report["at_once_share"] == 0.3333 and report["with_question_share"] == 0.6667
    assert report["by_lang"]["ar"]["with_question_share"] == 1.0 and report["by_lang"]["en"]["at_once"] == 0
    assert report["missed"] == [{"lang": "en", "kind": "hiding"}]


def test_the_bench_knows_the_safety_question_in_every_tag() -> None:
    texts = safety_question_texts()
    assert len(texts) == 5 and all(texts)


def test_store_kind() -> None:
    assert store_kind(None) == "sqlite"
    assert store_kind("postgresql://postgres@127.0.0.1:5432/test") == "postgresql"
    assert store_kind("postgresql+psycopg2://x@y/z") == "postgresql"
    assert store_kind("postgres://x@y/z") == "postgresql"


def test_process_figures_from_proc() -> None:
    memory = memory_mb(os.getpid())
    assert memory is not None and 0 < memory[0] <= memory[1]
    assert (cpu_seconds(os.getpid()) or 0) > 0
    assert memory_mb(2**22 + 12345) is None and cpu_seconds(2**22 + 12345) is None


def test_service_names_of_maak_run_children() -> None:
    python = sys.executable
    assert service_name([python, "-m", "actions.server", "--port", "5055"]) == "actions"
    assert service_name([python, "-m", "rasa", "run", "--model", "m.tar.gz"]) == "rasa"
    assert service_name([python, "-m", "tools.rasa_server", "run", "--model", "m.tar.gz"]) == "rasa"
    assert service_name([python, "-m", "bot"]) == "gateway"
    assert service_name([python, "-m", "cli", "run"]) is None
    assert service_name([python, "-m"]) is None and service_name([]) is None


def test_service_pids_finds_the_children_by_role() -> None:
    # A child that looks like the gateway to /proc (`python -m bot` with a bogus argument).
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "-m", "bot"])
    try:
        # Until the child has exec'd, /proc shows it with its parent's command line: a busy
        # machine can take a moment.
        deadline = time.monotonic() + 10
        while service_pids(os.getpid()) != {"gateway": child.pid} and time.monotonic() < deadline:
            time.sleep(0.05)
        assert service_pids(os.getpid()) == {"gateway": child.pid}
    finally:
        child.kill()
        child.wait()


def _maak_bench(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cli", "bench", *args]
    return subprocess.run(command, cwd=PROJECT_ROOT, input=stdin, capture_output=True, text=True, timeout=60)


def test_bench_says_why_it_cannot_run() -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    for args in (["--url", nowhere], ["--handoff", "--url", nowhere, "--username", "counsellor"]):
        result = _maak_bench(*args, stdin="a-password\n")
        assert result.returncode == 2 and result.stdout == ""
        assert "maak: bench failed" in result.stderr
    result = _maak_bench("--conversations", "0")
    assert result.returncode == 2 and "at least 1" in result.stderr


def test_bench_urgent_file_refuses_a_file_it_cannot_use(tmp_path: Path) -> None:
    missing = _maak_bench("--urgent-file", str(tmp_path / "none.tsv"))
    assert missing.returncode == 2 and missing.stdout == ""
    calm = tmp_path / "calm.tsv"
    calm.write_text("text\tintent\tlang\turgent\nhello\tgreet\ten\t0\n", encoding="utf-8")
    result = _maak_bench("--urgent-file", str(calm))
    assert result.returncode == 2 and "no urgent message" in result.stderr
    broken = tmp_path / "broken.tsv"
    broken.write_bytes(b"\xff\xfe\x00garbage")
    assert _maak_bench("--urgent-file", str(broken)).returncode == 2


def _processes_with(marker: str) -> list[int]:
    """Processes whose environment mentions `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_bench_handoff_end_to_end(model: Path, tmp_path: Path) -> None:
    """`maak bench --handoff` starts its own Maak, opens five urgent cases, reports, stops it."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    # Its scratch var dir goes under tmp_path, so that its processes can be recognised.
    env["TMPDIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "cli", "bench", "--handoff", "--conversations", "5"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert HANDOFF_KEYS <= set(report)
    assert report["benchmark"] == "handoff"
    assert report["conversations"] == 5 and report["opened"] == 5 and report["missing"] == []
    assert report["p99_ms"] is not None and 0 < report["p50_ms"] <= report["p99_ms"] <= report["max_ms"]
    assert report["store"] == "sqlite" and report["bus"] == "in-process"
    assert set(report["processes"]) == {"gateway", "rasa", "actions"}
    assert all(p["rss_mb"] for p in report["processes"].values())
    assert report["bench_cpu_s"] >= 0
    # The first urgent messages after the start, one at a time: each one's case reached the console.
    assert len(report["warmup_ms"]) == 5 and all(ms is not None and ms > 0 for ms in report["warmup_ms"])
    assert _processes_with(str(tmp_path)) == [], "maak bench left processes running"


def test_bench_urgent_file_end_to_end(model: Path, tmp_path: Path) -> None:
    """`maak bench --urgent-file` tells how each urgent message's case opened, by the set's labels.

    The labels here are the test's: the bench trusts them, so a calm message labelled urgent shows
    as "one tap away" (the violence path asks the safety question) and a greeting as missed.
    """
    labelled = tmp_path / "set.tsv"
    labelled.write_text(
        "text\tintent\tlang\turgent\tkind\n"
        "he is hitting me right now and he has a knife\timmediate_danger\ten\t1\tweapon\n"
        "my husband hits me when he drinks\timmediate_danger\ten\t1\tviolence_now\n"
        "good morning\timmediate_danger\ten\t1\thiding\n"
        "what time does the bank open\tout_of_scope\ten\t0\toff_topic\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["TMPDIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "cli", "bench", "--urgent-file", str(labelled)],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    # Exit 1: one urgent message missed — reported, not a crash.
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["benchmark"] == "urgent_file" and report["messages"] == 3
    assert (report["at_once"], report["after_question"]) == (1, 1)
    assert report["missed"] == [{"lang": "en", "kind": "hiding"}]
    assert "good morning" not in result.stdout
    assert _processes_with(str(tmp_path)) == [], "maak bench left processes running"


def test_bench_flood_end_to_end(model: Path, tmp_path: Path) -> None:
    """`maak bench --flood`: one address floods the web chat; the report says what the gateway's
    memory peaked at, what the flooded case kept, and that everyone else was still answered."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["TMPDIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "cli", "bench", "--flood", "--messages", "160", "--conversations", "3"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["benchmark"] == "flood" and report["flood_messages"] == 160
    # Sent without waiting, the socket was closed and came back; past the bot's turns her words are kept.
    assert report["flood_socket_closed_times"] >= 1
    assert report["flood_case_found"] and report["flood_messages_kept"] > 0
    assert report["burst_answered"] == report["burst_cases_opened"] == 3
    assert report["her_reply_ms_during"] is not None
    assert report["processes"]["gateway"]["peak_rss_mb"] > 0
    assert "flood-" not in json.dumps(report["processes"])
    assert _processes_with(str(tmp_path)) == [], "maak bench left processes running"
