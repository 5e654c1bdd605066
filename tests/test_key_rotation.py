"""Rotating the data key with `maak keys rotate`, on SQLite and on PostgreSQL: afterwards the new
key alone reads everything stored — her contact, her case, its messages, Rasa's tracker events."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from core.privacy import Cipher
from core.settings import PROJECT_ROOT
from core.store import Store, create_store_engine
from handoff.cases import CaseQueue
from tests.conftest import TEST_DATABASE_URL

OLD, NEW = b"the-old-data-key", b"the-new-data-key"
EVENT = '{"event": "user", "text": "zebracorn-7751 rajli kaydrebni"}'


def _rotate(env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "cli", "keys", "rotate"], capture_output=True, cwd=PROJECT_ROOT,
                          env={**os.environ, **env}, timeout=120)


@pytest.fixture(params=["sqlite", "postgresql"])
def stored(request, tmp_path) -> tuple[dict[str, str], Store, sa.Engine]:
    """A store and a tracker store written with the old key only; the env to rotate them."""
    env = {"MAAK_VAR_DIR": str(tmp_path), "MAAK_SECRET": "s", "MAAK_DATA_KEY": f"{NEW.decode()},{OLD.decode()}"}
    if request.param == "postgresql":
        env["DATABASE_URL"] = TEST_DATABASE_URL
        store = Store(TEST_DATABASE_URL)
        store.drop_schema()
    else:
        store = Store(f"sqlite:///{tmp_path / 'maak.db'}")
    store.migrate()
    tracker = store.engine if request.param == "postgresql" else create_store_engine(
        f"sqlite:///{tmp_path / 'rasa-tracker.db'}")
    with tracker.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS events"))
        conn.execute(sa.text("CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255), data TEXT)"))
    yield env, store, tracker
    with tracker.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS events"))
    if tracker is not store.engine:
        tracker.dispose()
    store.dispose()


async def test_after_a_rotation_the_new_key_alone_reads_everything(stored):
    env, store, tracker = stored
    old = Cipher(OLD)
    queue = CaseQueue(store, old)
    store.touch_contact("conv-1", "whatsapp", old.encrypt("212612345678"), "ary")
    case = await queue.open_case("conv-1", channel="whatsapp", priority="urgent", summary="zebracorn-7752 ghadi yqtlni")
    await queue.keep(case, "user", "zebracorn-7753 3afak")
    with tracker.begin() as conn:
        conn.execute(sa.text("INSERT INTO events (id, sender_id, data) VALUES (1, 'conv-1', :a), (2, 'conv-1', :b)"),
                     {"a": old.encrypt(EVENT), "b": EVENT})  # the second, written before encryption

    result = _rotate(env)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    counts = json.loads(result.stdout)
    assert counts["rewritten"] == {"maak_contacts": 1, "maak_cases": 1, "maak_case_messages": 1,
                                   "maak_referrals": 0, "events": 2}

    new = Cipher(NEW)
    assert new.decrypt(store.get_contact("conv-1")["address_enc"]) == "212612345678"
    reread = CaseQueue(store, new)
    assert reread.public(await reread.get(case.id))["summary"] == "zebracorn-7752 ghadi yqtlni"
    assert [m["text"] for m in await reread.messages(case.id)] == ["zebracorn-7753 3afak"]
    with tracker.connect() as conn:
        events = [new.decrypt(row[0]) for row in conn.execute(sa.text("SELECT data FROM events ORDER BY id"))]
    assert events == [EVENT, EVENT]
    # Run again (an interrupted rotation is simply run again): nothing left to rewrite.
    again = json.loads(_rotate(env).stdout)
    assert set(again["rewritten"].values()) == {0}


def test_a_text_no_key_reads_is_reported_and_kept(stored):
    env, store, tracker = stored
    store.touch_contact("conv-2", "telegram", Cipher(b"a-key-nobody-has").encrypt("987654321"), "fr")
    result = _rotate(env)
    assert result.returncode == 2
    assert json.loads(result.stdout)["unreadable"]["maak_contacts"] == 1
    assert "keep the old key" in result.stderr.decode()
    assert store.get_contact("conv-2") is not None
