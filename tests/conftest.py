"""Shared fixtures: the real stack (`maak run` on free ports), stores on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from core.settings import PROJECT_ROOT, load_settings
from tools.stack import Stack, environment, start, stop
from tools.training import ensure_model_from_gateway

# The tests of what runs in Rasa's environment (tests/rasa/) run there: `make test` runs them with
# its Python.
collect_ignore = ["rasa"]

TEST_DATABASE_URL = os.environ.get("MAAK_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
TEST_REDIS_URL = os.environ.get("MAAK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


# A trained model, or a whole gateway with its stores and background tasks.
STACK_FIXTURES = {"model", "gateway"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test is `unit`, `stack` (a trained model, a whole gateway, or `maak` run as a
    process) or `browser` (headless Chromium): `pytest -m unit` is the quick loop while changing code."""
    for item in items:
        if item.get_closest_marker("browser"):  # the modules that launch Chromium say so
            continue
        if item.get_closest_marker("stack") or STACK_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.stack)
        else:
            item.add_marker(pytest.mark.unit)


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


def start_stack(folder: Path, overrides: dict[str, str] | None = None) -> Stack:
    """Maak on its embedded defaults (SQLite, in-process queue) unless `overrides` name a database or Redis."""
    return start(folder, environment(folder / "var", {"DATABASE_URL": "", "REDIS_URL": "", **(overrides or {})}))


@pytest.fixture(scope="session")
def stack(model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Maak on its embedded defaults (SQLite, in-process queue), shared by the whole session."""
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    stop(running)
