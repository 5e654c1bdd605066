"""The case queue and the store, on the embedded SQLite and on the real PostgreSQL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import fields
from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from bot.retention import Eraser
from core.privacy import Cipher
from core.settings import PROJECT_ROOT, load_settings
from core.store import VERSION_TABLE, Store, case_messages, cases, contacts, metadata, migration_config, utcnow
from handoff import cases as cases_module
from handoff.cases import UNREADABLE, Case, CaseNotFound, CaseQueue, InvalidTransition
from tests.conftest import TEST_DATABASE_URL
from tools.training import rasa_process_environment


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path) -> Store:
    url = f"sqlite:///{tmp_path / 'maak.db'}" if request.param == "sqlite" else TEST_DATABASE_URL
    store = Store(url)
    # PostgreSQL must be reachable: this fails loudly rather than skipping.
    store.drop_schema()
    store.migrate()
    yield store
    store.drop_schema()
    store.dispose()


@pytest.fixture
def queue(store: Store) -> CaseQueue:
    return CaseQueue(store, Cipher(b"test-key"))


async def test_a_second_request_raises_the_priority_of_the_same_case(queue: CaseQueue, store: Store):
    first = await queue.open_case("conv-a", channel="webchat", priority="normal", summary="je cherche un travail")
    again = await queue.open_case("conv-a", channel="webchat", priority="urgent", danger=True)
    assert again.id == first.id
    assert again.priority == "urgent" and again.danger
    assert queue.public(again)["summary"] == "je cherche un travail"


def test_a_case_has_a_field_for_every_column_of_the_cases_table():
    # The queue makes a `Case` of a row as it is: a column added without its field would fail every read.
    assert [field.name for field in fields(Case)] == [column.name for column in cases.c]


async def test_consoles_see_a_case_in_the_fields_they_always_had(queue: CaseQueue):
    # The console's page and the other replicas read these names: the typed case changes none of them.
    case = await queue.open_case("conv-p", channel="webchat", priority="high", summary="je suis seule")
    expected = {
        "id": case.id, "status": "queued", "priority": "high", "lang": None, "channel": "webchat",
        "region": None, "category": None, "danger": False, "safe_to_chat": None,
        "created_at": case.created_at.isoformat(), "claimed_by": None, "escalated": False,
        "callback_window": None, "outcome": None, "summary": "je suis seule",
    }
    assert list(queue.public(case).items()) == list(expected.items())  # in order: the JSON is the same text


async def test_queue_position_is_by_priority_then_age(queue: CaseQueue):
    normal = await queue.open_case("conv-1", channel="webchat", priority="normal")
    high = await queue.open_case("conv-2", channel="webchat", priority="high")
    urgent = await queue.open_case("conv-3", channel="webchat", priority="urgent")
    later_urgent = await queue.open_case("conv-4", channel="webchat", priority="urgent")
    assert [await queue.position(c) for c in (urgent, later_urgent, high, normal)] == [1, 2, 3, 4]
    await queue.claim(urgent.id, "counsellor")
    assert await queue.position(normal) == 3


async def test_concurrent_requests_open_one_case(queue: CaseQueue, store: Store):
    await asyncio.gather(*(queue.open_case("conv-x", channel="webchat", priority="urgent") for _ in range(10)))
    assert len(store.list_cases("queued")) == 1


async def test_a_closed_case_cannot_be_claimed(queue: CaseQueue):
    case = await queue.open_case("conv-c", channel="webchat", priority="high")
    await queue.close(case.id, "listened")
    with pytest.raises(InvalidTransition):
        await queue.claim(case.id, "someone")


async def test_texts_are_encrypted_at_rest_and_the_console_hears_everything(queue: CaseQueue, store: Store):
    heard = []

    async def listener(event):
        heard.append(event.type)

    queue.subscribe(listener)
    case = await queue.open_case("conv-e", channel="webchat", priority="urgent", summary="il a un couteau")
    await queue.keep(case, "user", "il a un couteau")
    await queue.update(case.id, region="CST", safe_to_chat="no")
    with store.engine.connect() as conn:
        raw = " ".join(str(v) for row in conn.execute(sa.text("SELECT * FROM maak_case_messages")) for v in row)
        raw += " ".join(str(v) for row in conn.execute(sa.text("SELECT * FROM maak_cases")) for v in row)
    assert "couteau" not in raw
    assert heard == ["case_opened", "message", "case_updated"]


def create_rasa_tracker_table(url: str) -> sa.Table:
    """Rasa's own tracker table, created by Rasa itself in its environment."""
    code = (
        "import sys, sqlalchemy as sa; from rasa.core.tracker_store import SQLTrackerStore as S; "
        "S.SQLEvent.__table__.create(sa.create_engine(sys.argv[1]), checkfirst=True)"
    )
    subprocess.run([str(load_settings().rasa_python), "-c", code, url], check=True, env=rasa_process_environment(),
                   cwd=PROJECT_ROOT, timeout=120)
    return sa.Table("events", sa.MetaData(), autoload_with=sa.create_engine(url))


def test_forget_and_retention_erase_contact_cases_and_tracker(store: Store):
    events = create_rasa_tracker_table(store.url)
    cipher = Cipher(b"k")
    store.touch_contact("old-conv", "webchat", cipher.encrypt("session-old"))
    store.touch_contact("new-conv", "webchat", cipher.encrypt("session-new"))
    case = store.insert_case(conversation_id="old-conv", channel="webchat", priority="high")
    store.add_case_message(case["id"], "user", cipher.encrypt("texte"))
    with store.engine.begin() as conn:
        conn.execute(
            sa.update(contacts)
            .where(contacts.c.conversation_id == "old-conv")
            .values(last_seen_at=utcnow() - timedelta(days=40))
        )
        for sender in ("old-conv", "new-conv"):
            conn.execute(sa.insert(events).values(sender_id=sender, type_name="user", timestamp=0.0, data="{}"))
    eraser = Eraser(store, store.url)
    try:
        assert eraser.purge_inactive(days=30) == 1
        assert store.get_contact("old-conv") is None and store.get_case(case["id"]) is None
        assert store.get_contact("new-conv") is not None
        with store.engine.connect() as conn:
            senders = conn.execute(
                sa.select(events.c.sender_id).where(events.c.sender_id.in_(["old-conv", "new-conv"]))
            ).scalars()
            assert list(senders) == ["new-conv"]
    finally:
        with store.engine.begin() as conn:
            conn.execute(sa.delete(events).where(events.c.sender_id.in_(["old-conv", "new-conv"])))


def test_retention_also_reaches_conversations_without_a_contact(store: Store):
    events = create_rasa_tracker_table(store.url)
    old = utcnow() - timedelta(days=40)
    cipher = Cipher(b"k")
    # A case opened with no contact (the internal API's "api" channel), untouched for 40 days...
    orphan = store.insert_case(conversation_id="orphan-conv", channel="api", priority="normal")
    store.add_case_message(orphan["id"], "user", cipher.encrypt("texte"))
    # ...one like it still in use...
    recent = store.insert_case(conversation_id="recent-orphan", channel="api", priority="normal")
    with store.engine.begin() as conn:
        conn.execute(sa.update(cases).where(cases.c.id == orphan["id"]).values(updated_at=old))
        conn.execute(sa.update(case_messages).where(case_messages.c.case_id == orphan["id"]).values(created_at=old))
        # ...and Rasa trackers of conversations that never reached the gateway's store, old and new.
        conn.execute(sa.insert(events).values(sender_id="tracker-only", type_name="user", timestamp=old.timestamp(),
                                              data="{}"))
        conn.execute(sa.insert(events).values(sender_id="tracker-now", type_name="user",
                                              timestamp=utcnow().timestamp(), data="{}"))
    eraser = Eraser(store, store.url)
    try:
        assert eraser.purge_inactive(days=30) == 2
        assert store.get_case(orphan["id"]) is None and store.get_case(recent["id"]) is not None
        with store.engine.connect() as conn:
            left = set(conn.execute(sa.select(events.c.sender_id).where(
                events.c.sender_id.in_(["tracker-only", "tracker-now"]))).scalars())
        assert left == {"tracker-now"}
    finally:
        with store.engine.begin() as conn:
            conn.execute(sa.delete(events).where(events.c.sender_id.in_(["tracker-only", "tracker-now"])))


async def test_a_flooded_case_keeps_a_bounded_number_of_bounded_texts(queue: CaseQueue, store: Store, monkeypatch):
    monkeypatch.setattr(cases_module, "MAX_CASE_MESSAGES", 3)
    case = await queue.open_case("conv-flood", channel="webchat", priority="normal")
    for i in range(5):
        await queue.keep(case, "user", f"{i} " + "x" * 50_000)
    await queue.append(case, "counsellor", "Je suis là.", counsellor="amina")  # hers always go
    kept = await queue.messages(case.id)
    assert [m["text"][:1] for m in kept] == ["0", "1", "2", "J"]
    assert all(len(m["text"]) == cases_module.MAX_STORED_CHARS for m in kept[:3])


async def test_ten_concurrent_claims_one_wins(queue: CaseQueue, store: Store):
    case = await queue.open_case("conv-claim", channel="webchat", priority="urgent")
    results = await asyncio.gather(
        *(queue.claim(case.id, f"counsellor-{i}") for i in range(10)), return_exceptions=True
    )
    winners = [r for r in results if isinstance(r, Case)]
    assert len(winners) == 1
    assert all(isinstance(r, InvalidTransition) for r in results if not isinstance(r, Case))
    assert store.get_case(case.id)["claimed_by"] == winners[0].claimed_by


async def test_a_claimed_case_cannot_be_claimed_again_but_can_be_closed(queue: CaseQueue):
    case = await queue.open_case("conv-twice", channel="webchat", priority="high")
    await queue.claim(case.id, "amina")
    with pytest.raises(InvalidTransition):
        await queue.claim(case.id, "salma")
    closed = await queue.close(case.id, "listened")
    assert closed.status == "closed"
    with pytest.raises(CaseNotFound):
        await queue.claim(999_999, "amina")


async def test_a_text_stored_with_another_key_does_not_hide_the_queue(store: Store):
    other = CaseQueue(store, Cipher(b"old-key"))
    await other.open_case("conv-old", channel="webchat", priority="high", summary="ancien texte")
    queue = CaseQueue(store, Cipher(b"new-key"))
    await queue.open_case("conv-new", channel="webchat", priority="high", summary="nouveau texte")
    summaries = [queue.public(c)["summary"] for c in await queue.list("queued")]
    assert summaries == [UNREADABLE, "nouveau texte"]


async def test_every_moment_comes_back_in_utc_on_either_database(queue: CaseQueue, store: Store):
    # SQLite keeps no zone: read back naive, a moment would not compare with "now" (WhatsApp's
    # 24-hour window, her callback time) and the console would show it an hour off in Morocco.
    case = await queue.open_case("conv-utc", channel="webchat", priority="urgent")
    claimed = await queue.claim(case.id, "counsellor")
    for moment in (claimed.created_at, claimed.claimed_at, store.get_case(case.id)["updated_at"]):
        assert moment.utcoffset() == timedelta(0)
        assert abs(utcnow() - moment) < timedelta(minutes=1)
    assert queue.public(claimed)["created_at"].endswith("+00:00")
    with pytest.raises(sa.exc.StatementError, match="time zone"), store.engine.connect() as conn:
        conn.execute(sa.select(contacts).where(contacts.c.last_seen_at < utcnow().replace(tzinfo=None)))


def test_the_migrations_build_exactly_the_tables_the_code_uses(store: Store):
    # A column added to core/store.py without its migration would exist in tests and not in her
    # operator's database.
    with store.engine.connect() as conn:
        assert _drift(conn) == []
        version = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar_one()
    assert version == ScriptDirectory.from_config(migration_config()).get_current_head()
    store.migrate()  # a second start changes nothing


def test_a_database_from_before_migrations_is_upgraded_in_place_and_keeps_its_cases(store: Store):
    store.drop_schema()
    with store.engine.begin() as conn:
        metadata.create_all(conn)
        conn.execute(sa.text("ALTER TABLE maak_cases DROP COLUMN told_position"))
        conn.execute(sa.insert(contacts).values(conversation_id="conv-old", channel="webchat", address_enc="x",
                                                created_at=utcnow(), last_seen_at=utcnow()))
    store.migrate()
    assert store.get_contact("conv-old") is not None
    with store.engine.connect() as conn:
        assert _drift(conn) == []


def test_replicas_starting_together_migrate_one_database_once(store: Store):
    store.drop_schema()
    # Separate processes, as replicas are.
    starts = [
        subprocess.Popen([sys.executable, "-c", f"from core.store import Store; Store({store.url!r}).migrate()"],
                         cwd=PROJECT_ROOT, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    for start in starts:
        assert start.wait(timeout=60) == 0, start.stderr.read() if start.stderr else ""
    with store.engine.connect() as conn:
        assert _drift(conn) == []


def _drift(conn: sa.Connection) -> list[object]:
    """What Maak's tables in the database lack or have more than the tables in code (Alembic's
    comparison; the test database also holds Rasa's tracker tables, which are not ours)."""
    def ours(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table in metadata.tables

    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE, "include_object": ours})
    return list(compare_metadata(context, metadata))
