"""Shared fixtures: the real stack (`maak run` on free ports), stores on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
import requests

from core.settings import PROJECT_ROOT, Settings, load_settings
from tools.training import ensure_model_from_gateway

# The tests of what runs in Rasa's environment (tests/rasa/) run there: `make test` runs them with
# its Python.
collect_ignore = ["rasa"]

TEST_DATABASE_URL = os.environ.get("MAAK_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
TEST_REDIS_URL = os.environ.get("MAAK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
STACK_START_TIMEOUT = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Train the model before the first test when a collected test needs it: on a fresh clone
    training takes minutes, which no test's timeout should count."""
    if any("model" in getattr(item, "fixturenames", ()) for item in session.items):
        ensure_model_from_gateway(load_settings().rasa_python, PROJECT_ROOT / "models", quiet=True)


@pytest.fixture(scope="session")
def model() -> Path:
    """The model for the current data, trained once (in Rasa's environment) and cached by data
    hash in models/."""
    return ensure_model_from_gateway(load_settings().rasa_python, PROJECT_ROOT / "models", quiet=True)


@dataclass
class Stack:
    """A running Maak: `maak run` with its three processes, on free ports and a fresh var/."""

    url: str
    settings: Settings
    log_file: Path
    process: subprocess.Popen
    env: dict[str, str]

    def log(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace")


def start_stack(tmp: Path, extra_env: dict[str, str] | None = None) -> Stack:
    env = dict(os.environ)
    env.update(
        MAAK_PORT=str(free_port()),
        MAAK_RASA_PORT=str(free_port()),
        MAAK_ACTION_PORT=str(free_port()),
        MAAK_VAR_DIR=str(tmp / "var"),
        MAAK_MODELS_DIR=str(PROJECT_ROOT / "models"),
        MAAK_SECRET="test-secret-for-pseudonyms",
        MAAK_DATA_KEY="test-data-key",
        PYTHONUNBUFFERED="1",
    )
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    env.update(extra_env or {})
    log_file = tmp / "maak.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", "run"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log_file.open("w"),
        stderr=subprocess.STDOUT,
    )
    settings = load_settings(env)
    url = f"http://127.0.0.1:{settings.port}"
    deadline = time.monotonic() + STACK_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"maak run exited early:\n{log_file.read_text()[-3000:]}")
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                return Stack(url, settings, log_file, process, env)
        except requests.RequestException:
            pass
        time.sleep(1)
    stop_stack(process)
    raise RuntimeError(f"maak run not healthy after {STACK_START_TIMEOUT} s:\n{log_file.read_text()[-3000:]}")


def stop_stack(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def stack(model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Maak on its embedded defaults (SQLite, in-process queue), shared by the whole session."""
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    stop_stack(running.process)
