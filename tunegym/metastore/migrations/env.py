"""Alembic environment of the meta-store: run migrations on the connection the store passes.

`tunegym.metastore` runs ``upgrade head`` itself when a store is opened, handing its open
connection over in ``config.attributes["connection"]`` (so an in-memory SQLite database is
migrated in place). Without one, the ``sqlalchemy.url`` option of the config is used.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from tunegym.metastore._schema import Base


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things: copy-and-move tables instead
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    """Migrate the passed connection, or a fresh one to ``sqlalchemy.url``."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = create_engine(context.config.get_main_option("sqlalchemy.url", ""))
    try:
        with engine.begin() as fresh:
            _migrate(fresh)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("The meta-store's migrations run online only (on a connection).")
run()
