"""The gateway's SQL store: contacts, cases, case messages, accounts and the audit log.

SQLAlchemy 2. Calls are synchronous and short; async callers run them in
a worker thread (`Store.run`) so a slow database never blocks the event loop. Texts and platform
addresses are encrypted by the caller's `Cipher` before they reach a table.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Collection, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

T = TypeVar("T")
logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Maak's own name for Alembic's version table, so that a database shared with another
# application keeps the two apart.
VERSION_TABLE = "maak_schema_version"
MIGRATION_LOCK_KEY = 0x6D61616B  # "maak"
# The schema of the last Maak before migrations: a database it made is stamped with this one.
FIRST_REVISION = "0001"
_MIGRATING = threading.Lock()


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """A moment in UTC, stored and read back with its zone on every database: SQLite keeps no
    zone, so what it returns is put back in UTC here, once, instead of by every reader."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("a stored moment needs its time zone")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


metadata = sa.MetaData()

contacts = sa.Table(
    "maak_contacts",
    metadata,
    sa.Column("conversation_id", sa.String(64), primary_key=True),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("address_enc", sa.Text, nullable=False),
    sa.Column("lang", sa.String(16)),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("last_seen_at", UtcDateTime(), nullable=False, index=True),
)

cases = sa.Table(
    "maak_cases",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.String(64), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("priority", sa.String(16), nullable=False),
    sa.Column("lang", sa.String(16)),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("region", sa.String(16)),
    sa.Column("category", sa.String(32)),
    sa.Column("danger", sa.Boolean, nullable=False, default=False),
    sa.Column("safe_to_chat", sa.String(16)),
    sa.Column("summary_enc", sa.Text),
    sa.Column("intake_done", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("claimed_by", sa.String(64)),
    sa.Column("claimed_at", UtcDateTime()),
    sa.Column("closed_at", UtcDateTime()),
    sa.Column("outcome", sa.String(32)),
    # Set once, by whichever gateway replica escalates an urgent case past the SLA first.
    sa.Column("escalated_at", UtcDateTime()),
    sa.Column("callback_window", sa.String(16)),
    # The local day her callback time was last announced to on-call, once per day across replicas.
    sa.Column("callback_due_on", sa.String(10)),
    # The place in line she was last told, so that each change is told once across replicas.
    sa.Column("told_position", sa.Integer),
)

case_messages = sa.Table(
    "maak_case_messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("maak_cases.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("author", sa.String(16), nullable=False),
    sa.Column("text_enc", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("counsellor", sa.String(64)),
    sa.Column("delivery_error", sa.String(64)),
)

users = sa.Table(
    "maak_users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    # Refreshed while the console is connected: who is online, whatever the replica.
    sa.Column("seen_at", UtcDateTime()),
)

sessions = sa.Table(
    "maak_sessions",
    metadata,
    # Only a hash of the cookie value is kept: a copy of the table opens no session.
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, index=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
)

login_failures = sa.Table(
    "maak_login_failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # Keyed hashes of the name tried together with the address it came from, and of the address.
    sa.Column("pair_key", sa.String(64), nullable=False, index=True),
    sa.Column("ip_key", sa.String(64), nullable=False, index=True),
    sa.Column("at", UtcDateTime(), nullable=False),
)

referrals = sa.Table(
    "maak_referrals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("maak_cases.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("service_id", sa.String(64), nullable=False),
    sa.Column("note_enc", sa.Text),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

audit_log = sa.Table(
    "maak_audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("case_id", sa.Integer),
)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def create_store_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets a busy timeout and WAL so the gateway's threads share it."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, future=True, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return sa.create_engine(url, future=True, pool_pre_ping=True, pool_size=10, max_overflow=20)


def migration_config() -> Config:
    """Alembic's configuration for Maak's migrations (no ini file needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _revision(conn: sa.Connection) -> str | None:
    return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def _add_missing_columns(conn: sa.Connection) -> None:
    """Create the tables an older Maak lacked and add the columns it lacked: how the schema grew
    before it came under migrations."""
    metadata.create_all(conn)
    inspector = sa.inspect(conn)
    for table in metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present:
                kind = column.type.compile(dialect=conn.dialect)
                conn.execute(sa.text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))


class Store:
    """Owns the engine and the schema; every method is one short transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_store_engine(url)

    def migrate(self) -> None:
        """Bring the schema to the newest migration (`core/migrations/`), in one transaction.

        Processes that start together migrate one after the other: on PostgreSQL an advisory
        lock, on SQLite the database's write lock. A database made by an older Maak, before
        migrations (its tables but no version), is brought up to date the way it always was —
        missing tables created, missing columns (all nullable) added — stamped with the first
        revision, and upgraded from there.
        """
        config = migration_config()
        # Alembic runs its scripts through module-level state: one migration at a time per process.
        with _MIGRATING, self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            elif conn.dialect.name == "sqlite":
                # The write lock first (a `maak` command starting beside the gateway waits here):
                # the driver would otherwise begin only at the first write, after both had read
                # that the tables are missing.
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            config.attributes["connection"] = conn
            tables = set(sa.inspect(conn).get_table_names())
            if VERSION_TABLE not in tables and tables & set(metadata.tables):
                _add_missing_columns(conn)
                command.stamp(config, FIRST_REVISION)
            before = _revision(conn)
            command.upgrade(config, "head")
            after = _revision(conn)
            if after != before:
                logger.info("store schema upgraded from %s to %s", before or "nothing", after,
                            extra={"event": "schema_upgraded"})

    def drop_schema(self) -> None:
        """Drop every table of Maak's and its schema version: a clean database (the tests)."""
        with self.engine.begin() as conn:
            metadata.drop_all(conn)
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {VERSION_TABLE}"))

    def dispose(self) -> None:
        self.engine.dispose()

    async def run(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a synchronous store call in a worker thread."""
        return await asyncio.to_thread(functools.partial(func, *args, **kwargs))

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    # -- contacts ---------------------------------------------------------------------------
    def touch_contact(self, conversation_id: str, channel: str, address_enc: str, lang: str | None = None) -> str | None:
        """Record (or refresh) how to reach a conversation, when it was last active and, if
        given, its language.

        Returns the language stored before this call, if any.
        """
        now = utcnow()
        values: dict[str, Any] = {"channel": channel, "address_enc": address_enc, "last_seen_at": now}
        if lang is not None:
            values["lang"] = lang
        with self.engine.begin() as conn:
            known = conn.execute(
                sa.select(contacts.c.lang).where(contacts.c.conversation_id == conversation_id)
            ).first()
            if known is not None:
                conn.execute(sa.update(contacts).where(contacts.c.conversation_id == conversation_id).values(**values))
                lang_known: str | None = known[0]
                return lang_known
            conn.execute(sa.insert(contacts).values(conversation_id=conversation_id, created_at=now, **values))
        return None

    def set_contact_lang(self, conversation_id: str, lang: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.update(contacts).where(contacts.c.conversation_id == conversation_id).values(lang=lang))

    def get_contact(self, conversation_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(contacts).where(contacts.c.conversation_id == conversation_id)).mappings().first()
        return dict(row) if row else None

    def erase_conversation(self, conversation_id: str) -> None:
        """Erase her contact, her cases and their messages ("forget me", retention)."""
        with self.engine.begin() as conn:
            case_ids = sa.select(cases.c.id).where(cases.c.conversation_id == conversation_id)
            conn.execute(sa.delete(case_messages).where(case_messages.c.case_id.in_(case_ids)))
            conn.execute(sa.delete(referrals).where(referrals.c.case_id.in_(case_ids)))
            conn.execute(sa.delete(cases).where(cases.c.conversation_id == conversation_id))
            conn.execute(sa.delete(contacts).where(contacts.c.conversation_id == conversation_id))

    def inactive_conversations(self, older_than: timedelta) -> list[str]:
        cutoff = utcnow() - older_than
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(contacts.c.conversation_id).where(contacts.c.last_seen_at < cutoff)).scalars())

    def orphan_conversations(self, older_than: timedelta) -> list[str]:
        """Conversations with cases but no contact (opened without one, or left by a failure),
        untouched for `older_than`: retention would never reach them through a contact."""
        cutoff = utcnow() - older_than
        recent_cases = sa.select(cases.c.conversation_id).where(cases.c.updated_at >= cutoff)
        recent_messages = (
            sa.select(cases.c.conversation_id)
            .join(case_messages, case_messages.c.case_id == cases.c.id)
            .where(case_messages.c.created_at >= cutoff)
        )
        query = sa.select(cases.c.conversation_id).distinct().where(
            cases.c.conversation_id.not_in(sa.select(contacts.c.conversation_id)),
            cases.c.conversation_id.not_in(recent_cases),
            cases.c.conversation_id.not_in(recent_messages),
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def contact_ids(self) -> set[str]:
        """Every conversation that has a contact."""
        with self.engine.connect() as conn:
            return set(conn.execute(sa.select(contacts.c.conversation_id)).scalars())

    # -- cases ------------------------------------------------------------------------------
    def open_case_for(self, conversation_id: str) -> dict[str, Any] | None:
        """Her case that is not closed yet, if any."""
        return self._last_case(conversation_id, cases.c.status != "closed")

    def last_case_for(self, conversation_id: str) -> dict[str, Any] | None:
        """Her most recent case, open or closed, if any."""
        return self._last_case(conversation_id)

    def _last_case(self, conversation_id: str, *conditions: Any) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    sa.select(cases)
                    .where(cases.c.conversation_id == conversation_id, *conditions)
                    .order_by(cases.c.id.desc())
                )
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def get_case(self, case_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(cases).where(cases.c.id == case_id)).mappings().first()
        return dict(row) if row else None

    def insert_case(self, **values: Any) -> dict[str, Any]:
        now = utcnow()
        values.setdefault("status", "queued")
        with self.engine.begin() as conn:
            case_id = _new_id(conn.execute(sa.insert(cases).values(created_at=now, updated_at=now, **values)))
            row = conn.execute(sa.select(cases).where(cases.c.id == case_id)).mappings().one()
        return dict(row)

    def update_case(self, case_id: int, **values: Any) -> dict[str, Any]:
        with self.engine.begin() as conn:
            conn.execute(sa.update(cases).where(cases.c.id == case_id).values(updated_at=utcnow(), **values))
            row = conn.execute(sa.select(cases).where(cases.c.id == case_id)).mappings().one()
        return dict(row)

    def transition_case(self, case_id: int, from_statuses: set[str], **values: Any) -> dict[str, Any] | None:
        """Change a case only if it is still in one of `from_statuses`: one winner, whatever the race.

        The condition is checked by the database in the UPDATE itself, so two gateways (or two
        counsellors) claiming at once cannot both succeed. Returns None when the case was not changed.
        """
        with self.engine.begin() as conn:
            changed = conn.execute(
                sa.update(cases)
                .where(cases.c.id == case_id, cases.c.status.in_(sorted(from_statuses)))
                .values(updated_at=utcnow(), **values)
            ).rowcount
            if not changed:
                return None
            return dict(conn.execute(sa.select(cases).where(cases.c.id == case_id)).mappings().one())

    def list_cases(self, status: str, limit: int = 500) -> list[dict[str, Any]]:
        """Cases in `status`: queued by priority then age, claimed oldest first, closed newest first."""
        query = sa.select(cases).where(cases.c.status == status)
        if status == "queued":
            rank = sa.case({"urgent": 0, "high": 1}, value=cases.c.priority, else_=2)
            query = query.order_by(rank, cases.c.id)
        elif status == "closed":
            query = query.order_by(cases.c.closed_at.desc(), cases.c.id.desc())
        else:
            query = query.order_by(cases.c.claimed_at, cases.c.id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query.limit(limit)).mappings()]

    def set_told_position(self, case_id: int, position: int) -> bool:
        """Record the place in line she is about to be told; False if she already was told it."""
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    sa.update(cases)
                    .where(
                        cases.c.id == case_id,
                        sa.or_(cases.c.told_position.is_(None), cases.c.told_position != position),
                    )
                    .values(told_position=position)
                ).rowcount
            )

    def mark_escalated(self, case_id: int) -> dict[str, Any] | None:
        """Mark a still-queued case escalated; None if another replica did it or it was claimed."""
        with self.engine.begin() as conn:
            changed = conn.execute(
                sa.update(cases)
                .where(cases.c.id == case_id, cases.c.status == "queued", cases.c.escalated_at.is_(None))
                .values(escalated_at=utcnow())
            ).rowcount
            if not changed:
                return None
            return dict(conn.execute(sa.select(cases).where(cases.c.id == case_id)).mappings().one())

    def waiting_for_callback(self, windows: Collection[str], day: str) -> list[dict[str, Any]]:
        """Queued cases whose callback window is one of `windows`, not announced yet on `day`."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(cases)
                .where(
                    cases.c.status == "queued",
                    cases.c.callback_window.in_(list(windows)),
                    sa.or_(cases.c.callback_due_on.is_(None), cases.c.callback_due_on != day),
                )
                .order_by(cases.c.id)
            ).mappings()
            return [dict(r) for r in rows]

    def mark_callback_due(self, case_id: int, day: str) -> dict[str, Any] | None:
        """Record that her callback time on `day` is announced; None if another replica did it first."""
        with self.engine.begin() as conn:
            changed = conn.execute(
                sa.update(cases)
                .where(cases.c.id == case_id, cases.c.status == "queued",
                       sa.or_(cases.c.callback_due_on.is_(None), cases.c.callback_due_on != day))
                .values(callback_due_on=day)
            ).rowcount
            if not changed:
                return None
            return dict(conn.execute(sa.select(cases).where(cases.c.id == case_id)).mappings().one())

    def overdue_urgent_cases(self, older_than: timedelta) -> list[dict[str, Any]]:
        """Urgent cases still queued after `older_than` and not escalated yet."""
        cutoff = utcnow() - older_than
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(cases)
                .where(
                    cases.c.status == "queued",
                    cases.c.priority == "urgent",
                    cases.c.escalated_at.is_(None),
                    cases.c.created_at < cutoff,
                )
                .order_by(cases.c.id)
            ).mappings()
            return [dict(r) for r in rows]

    def queue_position(self, case_id: int, priority: str, priority_rank: dict[str, int]) -> int:
        """1-based place in line of a queued case: higher priorities first, then the oldest."""
        rank = priority_rank[priority]
        ahead_priorities = [p for p, r in priority_rank.items() if r < rank]
        with self.engine.connect() as conn:
            ahead = conn.execute(
                sa.select(sa.func.count())
                .select_from(cases)
                .where(
                    cases.c.status == "queued",
                    sa.or_(
                        cases.c.priority.in_(ahead_priorities),
                        sa.and_(cases.c.priority == priority, cases.c.id < case_id),
                    ),
                )
            ).scalar_one()
        return int(ahead) + 1

    def add_case_message(
        self, case_id: int, author: str, text_enc: str, counsellor: str | None = None, keep_at_most: int | None = None
    ) -> dict[str, Any] | None:
        """Store one message; with `keep_at_most`, None (nothing stored) when the case already
        holds that many messages other than counsellors'."""
        with self.engine.begin() as conn:
            if keep_at_most is not None:
                held = conn.execute(sa.select(sa.func.count()).where(
                    case_messages.c.case_id == case_id, case_messages.c.author != "counsellor")).scalar_one()
                if held >= keep_at_most:
                    return None
            message_id = _new_id(conn.execute(
                sa.insert(case_messages).values(
                    case_id=case_id, author=author, text_enc=text_enc, counsellor=counsellor, created_at=utcnow()
                )
            ))
            return dict(conn.execute(sa.select(case_messages).where(case_messages.c.id == message_id)).mappings().one())

    def set_delivery_error(self, message_id: int, error: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.update(case_messages).where(case_messages.c.id == message_id).values(delivery_error=error[:64]))

    def get_case_message(self, message_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(case_messages).where(case_messages.c.id == message_id)).mappings().first()
        return dict(row) if row else None

    def case_messages(self, case_id: int, before: int | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """A case's messages, oldest first: all, or the `limit` newest with an id below `before`."""
        query = sa.select(case_messages).where(case_messages.c.case_id == case_id)
        if before is not None:
            query = query.where(case_messages.c.id < before)
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query.order_by(case_messages.c.id.desc()).limit(limit)).mappings()]
        return rows[::-1]

    def counsellor_messages_after(self, case_id: int, after: int, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """A case's counsellor messages with an id above `after` (at most `limit`, oldest first),
        and whether she had one at or below it."""
        written = sa.and_(case_messages.c.case_id == case_id, case_messages.c.author == "counsellor")
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(case_messages).where(written, case_messages.c.id > after).order_by(case_messages.c.id)
                .limit(limit)
            ).mappings()
            earlier = conn.execute(sa.select(case_messages.c.id).where(written, case_messages.c.id <= after).limit(1))
            return [dict(r) for r in rows], earlier.first() is not None

    # -- accounts and audit -----------------------------------------------------------------
    def add_user(self, username: str, role: str, password_hash: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(users).values(username=username, role=role, password_hash=password_hash, created_at=utcnow())
            )

    def remove_user(self, username: str) -> None:
        """The account and its sessions; the audit log keeps the name."""
        with self.engine.begin() as conn:
            conn.execute(sa.delete(sessions).where(sessions.c.username == username))
            conn.execute(sa.delete(users).where(users.c.username == username))

    def cases_held_by(self, username: str) -> list[int]:
        """The open cases a counsellor holds."""
        with self.engine.connect() as conn:
            return list(conn.execute(
                sa.select(cases.c.id).where(cases.c.claimed_by == username, cases.c.status == "claimed")
            ).scalars())

    def get_user(self, username: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.username == username)).mappings().first()
        return dict(row) if row else None

    def list_users(self, roles: tuple[str, ...]) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(users.c.username, users.c.role, users.c.seen_at)
                .where(users.c.role.in_(roles))
                .order_by(users.c.username)
            ).mappings()
            return [dict(r) for r in rows]

    def touch_user(self, username: str) -> None:
        """The console of `username` is connected now."""
        with self.engine.begin() as conn:
            conn.execute(sa.update(users).where(users.c.username == username).values(seen_at=utcnow()))

    def mark_offline(self, username: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.update(users).where(users.c.username == username).values(seen_at=None))

    def users_online(self, roles: tuple[str, ...], within: timedelta) -> list[str]:
        """Names of the accounts with `roles` whose console was connected within `within`."""
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(users.c.username).where(users.c.role.in_(roles), users.c.seen_at >= utcnow() - within)
                ).scalars()
            )

    def add_audit(self, actor: str, action: str, case_id: int | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.insert(audit_log).values(at=utcnow(), actor=actor, action=action, case_id=case_id))

    def audit_entries(self, case_id: int | None = None) -> list[dict[str, Any]]:
        query = sa.select(audit_log).order_by(audit_log.c.id)
        if case_id is not None:
            query = query.where(audit_log.c.case_id == case_id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    # -- console sessions and login attempts -----------------------------------------------
    def add_session(self, token_hash: str, username: str, csrf_token: str, lifetime: timedelta) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.delete(sessions).where(sessions.c.expires_at < utcnow()))
            conn.execute(
                sa.insert(sessions).values(
                    token_hash=token_hash, username=username, csrf_token=csrf_token, expires_at=utcnow() + lifetime
                )
            )

    def get_session(self, token_hash: str) -> dict[str, Any] | None:
        """The live session with this token hash, with its user's role."""
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    sa.select(sessions.c.username, sessions.c.csrf_token, users.c.role)
                    .join(users, users.c.username == sessions.c.username)
                    .where(sessions.c.token_hash == token_hash, sessions.c.expires_at > utcnow())
                )
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def delete_session(self, token_hash: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.delete(sessions).where(sessions.c.token_hash == token_hash))

    def add_login_failure(self, pair_key: str, ip_key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.insert(login_failures).values(pair_key=pair_key, ip_key=ip_key, at=utcnow()))

    def login_failures_since(self, pair_key: str, ip_key: str, within: timedelta) -> tuple[int, int]:
        """Failed logins within `within` for this name from this address, and from this address."""
        since = utcnow() - within
        with self.engine.connect() as conn:
            by_pair = conn.execute(
                sa.select(sa.func.count()).where(login_failures.c.pair_key == pair_key, login_failures.c.at >= since)
            ).scalar_one()
            by_ip = conn.execute(
                sa.select(sa.func.count()).where(login_failures.c.ip_key == ip_key, login_failures.c.at >= since)
            ).scalar_one()
        return int(by_pair), int(by_ip)

    def clear_login_failures(self, pair_key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.delete(login_failures).where(login_failures.c.pair_key == pair_key))

    # -- referrals --------------------------------------------------------------------------
    def add_referral(self, case_id: int, service_id: str, note_enc: str | None, created_by: str) -> int:
        with self.engine.begin() as conn:
            return _new_id(conn.execute(
                sa.insert(referrals).values(
                    case_id=case_id, service_id=service_id, note_enc=note_enc, created_by=created_by, created_at=utcnow()
                )
            ))


def _new_id(result: sa.CursorResult[Any]) -> int:
    """The primary key an INSERT just gave its row."""
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the database gave no key for the new row")
    return int(key[0])
