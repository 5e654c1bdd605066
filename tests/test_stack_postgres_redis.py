"""Maak on PostgreSQL and Redis (as deployed with replicas), and `maak run`'s supervision end to end."""

from __future__ import annotations

import subprocess
import time

import pytest
import requests

from core.privacy import conversation_id
from core.store import Store
from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL, start_stack
from tests.support.expect import conversation, said
from tools.clients import ChatClient, texts
from tools.stack import stop


@pytest.fixture(scope="module")
def pg_stack(model, tmp_path_factory):
    running = start_stack(
        tmp_path_factory.mktemp("pg-stack"), {"DATABASE_URL": TEST_DATABASE_URL, "REDIS_URL": TEST_REDIS_URL}
    )
    yield running
    stop(running)


def test_health_includes_redis(pg_stack):
    body = requests.get(f"{pg_stack.url}/health", timeout=5).json()
    assert body["status"] == "ok" and body["parts"]["redis"] is True


async def test_an_urgent_conversation_on_postgres_and_redis(pg_stack):
    conv = conversation("fr")
    async with ChatClient(pg_stack.url) as chat:
        replies = await chat.say(conv["danger"])
        assert said(replies, "utter_urgent_ack", "fr"), texts(replies)
        replies = await chat.say(conv["no"])
        assert said(replies, "utter_ask_urgent_form_region", "fr"), texts(replies)
        conv_id = conversation_id(pg_stack.settings.secret, "webchat", chat.session_id)
    store = Store(TEST_DATABASE_URL)
    try:
        case = store.open_case_for(conv_id)
        assert case["priority"] == "urgent" and case["safe_to_chat"] == "no"
    finally:
        store.dispose()


async def test_her_words_are_nowhere_in_clear_in_the_database(pg_stack):
    canary = "zebracorn-7741 rajli kaydrebni daba"
    async with ChatClient(pg_stack.url) as chat:
        replies = await chat.say(canary)
        assert replies, "no reply"
        conv_id = conversation_id(pg_stack.settings.secret, "webchat", chat.session_id)
    dump = subprocess.run(["pg_dump", "--data-only", TEST_DATABASE_URL], capture_output=True, check=True).stdout
    assert conv_id.encode() in dump  # Rasa's tracker and the case are there, under her pseudonym...
    assert b"zebracorn" not in dump  # ...and her words, in any table, only encrypted
    assert b"immediate_danger" not in dump and b"utter_urgent_ack" not in dump  # nor what the bot read or did


def _wait_for_health(url: str, ok: bool, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = requests.get(f"{url}/health", timeout=5)
        if (response.status_code == 200) == ok:
            return response.json()
        time.sleep(0.5)
    raise AssertionError(f"health did not become {'ok' if ok else 'failing'}")


def test_a_dead_action_server_is_named_by_health_and_restarted(pg_stack):
    pattern = f"actions.server --port {pg_stack.settings.action_port}"
    subprocess.run(["pkill", "-KILL", "-f", pattern], check=True)
    failing = _wait_for_health(pg_stack.url, ok=False, timeout=20)
    assert failing["failing"] == ["actions"]
    _wait_for_health(pg_stack.url, ok=True)
    assert "actions stopped (exit code -9)" in pg_stack.log()


def test_ctrl_c_stops_every_process_cleanly(pg_stack):
    stop(pg_stack)  # SIGINT, as Ctrl-C in the terminal
    assert pg_stack.process.returncode == 0
    log = pg_stack.log()
    assert "maak: stopped" in log and "killing" not in log
    for port in (pg_stack.settings.rasa_port, pg_stack.settings.action_port):
        left = subprocess.run(["pgrep", "-f", f"--port {port}"], capture_output=True)
        assert left.stdout == b""
