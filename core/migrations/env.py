"""Alembic's entry point for Maak's schema: run on the connection `Store.migrate` hands over."""

from alembic import context

from core.store import VERSION_TABLE, metadata

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    # SQLite changes a table by copying it: batch mode lets one migration serve both databases.
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
