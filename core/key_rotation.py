"""`maak keys rotate`: everything stored encrypted, re-encrypted with the first data key.

Rotating the data key: put the new key first in `MAAK_DATA_KEY` (`new,old`) on every process and
restart them — new writes use it, old texts still read — then run this, online, and drop the old
key. Rows are rewritten in small batches, each only if it has not changed meanwhile, so the
running gateway is never held up for long. Rasa's tracker events written before they were
encrypted (plain JSON) are encrypted on the way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.privacy import Cipher
from core.store import case_messages, cases, contacts, referrals

logger = logging.getLogger(__name__)

BATCH = 500
# Rasa's SQLTrackerStore table; its `data` column is encrypted by tracker_store/.
TRACKER_EVENTS = sa.table("events", sa.column("id", sa.Integer), sa.column("data", sa.Text))
# Every encrypted column of the gateway's store, by table.
STORE_COLUMNS: tuple[tuple[sa.TableClause, str], ...] = (
    (contacts, "address_enc"), (cases, "summary_enc"), (case_messages, "text_enc"), (referrals, "note_enc"),
)


@dataclass
class Rotation:
    """What `rotate` did, per table: rows rewritten, and rows no key could read (left as they are)."""

    rewritten: dict[str, int] = field(default_factory=dict)
    unreadable: dict[str, int] = field(default_factory=dict)


def rotate(store_engine: Engine, tracker_engine: Engine, cipher: Cipher) -> Rotation:
    """Re-encrypt the store's columns and Rasa's tracker events with `cipher`'s first key."""
    result = Rotation()
    for table, column in STORE_COLUMNS:
        _rotate_column(store_engine, table, column, cipher.rotate, result)
    if sa.inspect(tracker_engine).has_table("events"):
        _rotate_column(tracker_engine, TRACKER_EVENTS, "data", _tracker_rotation(cipher), result)
    return result


def _tracker_rotation(cipher: Cipher) -> Callable[[str], str | None]:
    def rotated(stored: str) -> str | None:
        # A plain JSON event, from before the tracker store encrypted: encrypted now.
        return cipher.encrypt(stored) if stored.startswith("{") else cipher.rotate(stored)

    return rotated


def _rotate_column(
    engine: Engine, table: sa.TableClause, column: str, rotated: Callable[[str], str | None], result: Rotation
) -> None:
    key = next(iter(table.primary_key)) if isinstance(table, sa.Table) else table.c.id
    value = table.c[column]
    last = None
    rewritten = unreadable = 0
    while True:
        query = sa.select(key, value).where(value.is_not(None)).order_by(key).limit(BATCH)
        if last is not None:
            query = query.where(key > last)
        with engine.begin() as conn:
            rows = conn.execute(query).all()
            for row_key, stored in rows:
                try:
                    new = rotated(stored)
                except ValueError:
                    unreadable += 1
                    continue
                if new is not None:
                    # Only if unchanged since read: the gateway may have written it meanwhile.
                    changed = conn.execute(sa.update(table).where(key == row_key, value == stored).values({column: new}))
                    rewritten += changed.rowcount
        if len(rows) < BATCH:
            break
        last = rows[-1][0]
    result.rewritten[table.name] = rewritten
    result.unreadable[table.name] = unreadable
    if unreadable:
        logger.warning("%d rows of %s could not be decrypted with any key", unreadable, table.name,
                       extra={"event": "rotation_unreadable"})
