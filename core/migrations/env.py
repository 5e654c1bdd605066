"""Alembic's entry point for Maak's schema.

`Store.migrate` hands over its connection (every start of Maak). Run from the command line —
`.venv/bin/alembic revision --autogenerate -m "what changed"` after editing the tables in
`core/store.py` — it works on the database of Maak's settings (`DATABASE_URL`, else the SQLite
file under `var/`), which must be at the newest revision first.
"""

from alembic import context
from sqlalchemy import Connection

from core.settings import load_settings
from core.store import VERSION_TABLE, Store, metadata


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        # SQLite changes a table by copying it: batch mode lets one migration serve both databases.
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if "connection" in context.config.attributes:
    run(context.config.attributes["connection"])
else:
    store = Store(load_settings().store_url)
    try:
        with store.engine.begin() as connection:
            run(connection)
    finally:
        store.dispose()
