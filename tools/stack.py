"""A Maak started as `maak run` starts it — on free ports, in a scratch folder, in a session of
its own — and stopped as Ctrl-C stops it. `maak bench` measures one; the tests talk to one."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from core.settings import PROJECT_ROOT, Settings, load_settings

START_TIMEOUT_SECONDS = 300
# `maak run` trains first when there is no model for the data: minutes on 2 cores.
TRAINING_START_TIMEOUT_SECONDS = 1200
STOP_TIMEOUT_SECONDS = 45
# A stack for measuring or testing must not reach her real channels or announce a public address.
NEVER_INHERITED = ("TELEGRAM_", "WHATSAPP_", "MAAK_PUBLIC_URL")


class StackError(RuntimeError):
    """The stack did not start; the message ends with the tail of its log."""


@dataclass
class Stack:
    """A running Maak: `maak run` with its three processes."""

    url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_file: Path

    @property
    def settings(self) -> Settings:
        return load_settings(self.env)

    def log(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace")

    def services(self) -> dict[str, int]:
        """The gateway, Rasa and action server pids (read from /proc)."""
        return service_pids(self.process.pid)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def environment(var_dir: Path, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment (less her channels), free ports, a scratch var/, fresh secrets;
    `overrides` last (an empty value unsets a name)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(NEVER_INHERITED)}
    env.update(
        MAAK_HOST="127.0.0.1",
        MAAK_PORT=str(free_port()),
        MAAK_RASA_PORT=str(free_port()),
        MAAK_ACTION_PORT=str(free_port()),
        MAAK_INTERNAL_PORT=str(free_port()),
        # Every chat of a test or a benchmark comes from loopback: not a flood from one address.
        MAAK_CHAT_LIMITS_EXEMPT="127.0.0.0/8",
        MAAK_VAR_DIR=str(var_dir),
        MAAK_SECRET=secrets.token_urlsafe(32),
        MAAK_DATA_KEY=secrets.token_urlsafe(32),
        PYTHONUNBUFFERED="1",
    )
    for name, value in (overrides or {}).items():
        if value:
            env[name] = value
        else:
            env.pop(name, None)
    return env


def start(folder: Path, env: dict[str, str], timeout: float = START_TIMEOUT_SECONDS) -> Stack:
    """`maak run` with `env`, its log in `folder`; returns once /health answers 200."""
    log_file = folder / "maak.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "run"], cwd=PROJECT_ROOT, env=env,
            stdout=log, stderr=subprocess.STDOUT,
            # Its own session: a Ctrl-C meant for the caller does not reach it; `stop` stops it.
            start_new_session=True,
        )  # fmt: skip
    stack = Stack(f"http://127.0.0.1:{env['MAAK_PORT']}", env, process, log_file)
    deadline = time.monotonic() + timeout
    while not _healthy(stack.url):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(stack)
            raise StackError(f"maak run did not become healthy at {stack.url}:\n{stack.log()[-3000:]}")
        time.sleep(0.5)
    return stack


def stop(stack: Stack) -> None:
    """Ctrl-C for `maak run` (it stops its services in order); kill what does not stop."""
    children = stack.services()
    process = stack.process
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
            return
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    # The services run in sessions of their own and outlive a killed supervisor: stop those still
    # running (checked by command line, in case a pid was reused).
    for name, pid in children.items():
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
            if service_name(argv) == name:
                os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def service_pids(parent: int) -> dict[str, int]:
    """The gateway, Rasa and action server started by the `maak run` process `parent`."""
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) != parent:
            continue
        name = service_name([a.decode(errors="replace") for a in argv])
        if name:
            found[name] = int(entry.name)
    return found


def service_name(argv: list[str]) -> str | None:
    """Which service a `python -m MODULE …` command line is (see `cli.main._services`)."""
    module = argv[argv.index("-m") + 1] if "-m" in argv[:-1] else ""
    if module == "actions.server":
        return "actions"
    if module.split(".")[-1] in ("rasa", "rasa_server"):
        return "rasa"
    if module == "bot":
        return "gateway"
    return None
