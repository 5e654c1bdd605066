"""`maak run`'s supervisor: a process that dies is reported and restarted; stop ends them all."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tools.supervisor import Service, Supervisor


def _service(name: str, code: str) -> Service:
    return Service(name, [sys.executable, "-c", code], {"PATH": "/usr/bin:/bin"})


async def test_a_dead_process_is_restarted_and_stop_ends_everything(tmp_path: Path, capsys):
    starts = tmp_path / "starts"
    crasher = _service("crasher", f"open({str(starts)!r}, 'a').write('x')")  # exits at once
    sleeper = _service("sleeper", "import time; time.sleep(600)")
    supervisor = Supervisor([crasher, sleeper])
    running = asyncio.create_task(supervisor.run())
    for _ in range(100):
        await asyncio.sleep(0.1)
        if starts.exists() and len(starts.read_text()) >= 2:
            break
    assert len(starts.read_text()) >= 2, "the crashed process was not restarted"
    sleeping = supervisor._processes["sleeper"]
    assert sleeping.returncode is None
    supervisor.stop()
    await asyncio.wait_for(running, timeout=20)
    assert sleeping.returncode is not None
    err = capsys.readouterr().err
    assert "crasher stopped (exit code 0)" in err and "restarting" in err
