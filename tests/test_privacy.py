"""No message text and no contact id ever reaches a log, in any of Maak's three processes."""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path

from core.logs import EventFormatter
from tools.clients import ChatClient

MARKERS = [
    "zebracorn-7731 rajli kaydrebni daba 3afak",
    "zebracorn-7732 je cherche un travail a Fes",
    "zebracorn-7733 انا فخطر دابا",
]


async def test_no_message_text_or_contact_id_in_the_logs(stack):
    async with ChatClient(stack.url) as chat:
        for text in MARKERS:
            await chat.say(text)
        await chat.say("")  # bad input is logged as an event, never with its content
        session_id = chat.session_id
    await asyncio.sleep(1.0)
    log = stack.log()
    assert "message received" in log  # the events are there…
    assert "zebracorn" not in log  # …their texts are not
    for text in MARKERS:
        assert text not in log
    assert session_id not in log


def test_a_failing_action_request_is_not_echoed_back(stack):
    import requests

    url = f"http://127.0.0.1:{stack.settings.action_port}/webhook"
    body = {"next_action": "action_emergency_numbers", "sender_id": "x", "tracker": "zebracorn-7734", "domain": {}}
    answer = requests.post(url, json=body, timeout=10,
                           headers={"Authorization": f"Bearer {stack.settings.action_token}"})
    assert answer.status_code == 500
    assert "zebracorn" not in answer.text
    assert "zebracorn" not in stack.log()


def test_the_action_server_answers_rasa_only(stack):
    import requests

    # A forged call from another process on the machine: the handoff action would open a case.
    url = f"http://127.0.0.1:{stack.settings.action_port}/webhook"
    body = {"next_action": "action_request_handoff", "sender_id": "forged", "domain": {},
            "tracker": {"sender_id": "forged", "slots": {}, "latest_message": {"text": "zebracorn-7736"},
                        "events": [], "paused": False, "latest_event_time": None, "active_loop": {}}}
    for headers in ({}, {"Authorization": f"Bearer {stack.settings.internal_token}"}):
        assert requests.post(url, json=body, headers=headers, timeout=10).status_code == 401
    assert requests.get(f"http://127.0.0.1:{stack.settings.action_port}/health", timeout=10).status_code == 200


def test_no_secret_is_on_any_command_line(stack):
    # `ps` shows every process's arguments to every account on the machine.
    settings = stack.settings
    secrets_ = [settings.internal_token, settings.rasa_token, settings.action_token,
                settings.secret.decode(), settings.data_key.decode()]
    lines = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            lines.append(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue  # a process that ended meanwhile
    ours = [line for line in lines if f"--port {settings.rasa_port}" in line or "actions.server" in line]
    assert ours, "the stack's processes were not found"
    assert [line for line in lines for secret in secrets_ if secret and secret in line] == []
    # Rasa's API still wants its token: the gateway's parse calls carry it, a stranger's do not.
    import requests

    parse = f"http://127.0.0.1:{settings.rasa_port}/model/parse"
    assert requests.post(parse, json={"text": "salam"}, timeout=30).status_code == 401
    assert requests.post(parse, params={"token": settings.internal_token}, json={"text": "salam"},
                         timeout=30).status_code == 401
    assert requests.post(parse, params={"token": settings.rasa_token}, json={"text": "salam"},
                         timeout=30).status_code == 200


async def test_her_words_are_nowhere_in_clear_on_disk(stack):
    canary = "zebracorn-7742 rajli kaydrebni daba"
    async with ChatClient(stack.url) as chat:
        assert await chat.say(canary)
    raw = b"".join(path.read_bytes() for path in stack.settings.var_dir.rglob("*") if path.is_file())
    trackers = [path for path in stack.settings.var_dir.rglob("rasa-tracker*") if path.is_file()]
    assert trackers and any(path.stat().st_size > 0 for path in trackers)
    assert b"zebracorn" not in raw
    assert b"immediate_danger" not in raw and b"utter_urgent_ack" not in raw


async def test_what_maak_keeps_on_disk_is_readable_by_its_own_user_only(stack):
    # The embedded database and Rasa's tracker store hold her words, var/ holds keys: another
    # account on the machine must not read them, whatever umask the operator's shell has.
    async with ChatClient(stack.url) as chat:
        await chat.say("zebracorn-7735 salam")
    var_dir = stack.settings.var_dir
    files = [path for path in var_dir.rglob("*") if path.is_file()]
    assert "maak.db" in {path.name for path in files} and "demo-login.txt" not in {path.name for path in files}
    assert any(path.name.startswith("rasa-tracker") for path in files)
    assert [(path.name, oct(path.stat().st_mode & 0o777)) for path in [var_dir, *files]
            if path.stat().st_mode & 0o077] == []


def test_a_logged_failure_names_its_type_and_place_never_its_message():
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(EventFormatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("maak.test.privacy")
    logger.addHandler(handler)
    her_words, her_bytes = "zebracorn-7734 ana khayfa", b"\xff zebracorn-7735"  # data, as at run time
    try:
        try:
            {"other": 1}[her_words]
        except KeyError:
            logger.exception("lookup failed", extra={"event": "lookup_failed"})
        try:
            her_bytes.decode("utf-8")
        except UnicodeDecodeError:
            logger.exception("decoding failed")
    finally:
        logger.removeHandler(handler)
    log = out.getvalue()
    assert "lookup failed" in log and "event=lookup_failed" in log
    assert "KeyError" in log and "UnicodeDecodeError" in log and "test_privacy.py" in log
    assert "zebracorn" not in log
