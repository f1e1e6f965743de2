"""Where the meta-store lives, how its engine is built, and its Alembic migrations."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from tunegym.errors import MissingExtraError

__all__ = [
    "METASTORE_ENV",
    "READ_ONLY",
    "alembic_config",
    "default_url",
    "head_revision",
    "make_engine",
    "resolve_url",
    "upgrade",
]

METASTORE_ENV = "TUNEGYM_METASTORE"
# Execution option of the connections that only read (SQLite then takes no write lock).
READ_ONLY = "tunegym_read_only"
_MEMORY = {"sqlite://", ":memory:", "sqlite:///:memory:"}
_BUSY_TIMEOUT_MS = 30_000
# Key of the PostgreSQL advisory lock that serialises migrations: "tunegym" in ASCII and a 0.
_MIGRATION_LOCK_KEY = 0x7475_6E65_6779_6D00


def default_url() -> str:
    """``$TUNEGYM_METASTORE`` (a URL or a file path) if set, else the per-user SQLite file.

    The per-user file is ``$XDG_DATA_HOME/tunegym/metastore.sqlite``, or
    ``~/.local/share/tunegym/metastore.sqlite`` when ``XDG_DATA_HOME`` is unset.
    """
    configured = os.environ.get(METASTORE_ENV)
    if configured:
        return configured
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return str(Path(data_home) / "tunegym" / "metastore.sqlite")


def resolve_url(url: str | os.PathLike[str] | None) -> str:
    """A SQLAlchemy URL: ``None`` gives `default_url`, a path gives a SQLite file URL."""
    text = default_url() if url is None else os.fspath(url)
    if text in _MEMORY:
        return "sqlite://"
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def _enable_wal(cursor: Any) -> None:
    # WAL is a property of the file, set once. Switching to it needs the file to itself and
    # SQLite answers "database is locked" at once instead of waiting on busy_timeout, so when
    # several processes open a new store together the switch is retried for a while.
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _on_sqlite_connect(in_memory: bool) -> Any:
    def configure(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy, not the driver, opens transactions (see `_begin`).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        if not in_memory:
            # WAL lets readers work while one process writes; NORMAL is durable under WAL.
            _enable_wal(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return configure


def _shown(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _begin(connection: Connection) -> None:
    # A write transaction takes the write lock when it starts: a get-or-create that read first
    # and wrote second could otherwise lose to another writer (SQLITE_BUSY, which busy_timeout
    # cannot wait out, or a duplicate key); writers queue up on busy_timeout instead. Readers
    # (READ_ONLY) take no lock: under WAL they read a snapshot while a writer writes.
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys, a busy timeout and (files) WAL.

    Raises:
        ValueError: for a URL SQLAlchemy cannot parse, or of an unknown database.
        MissingExtraError: for PostgreSQL without its driver (the ``postgres`` extra).
    """
    try:
        parsed = make_url(url)
        backend = parsed.get_backend_name()
        if backend != "sqlite":
            return create_engine(parsed, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError) as error:
        raise ValueError(
            f"Invalid meta-store URL {_shown(url)!r} ({type(error).__name__}); give a SQLAlchemy URL such as "
            "'sqlite:///path/to/store.sqlite' or 'postgresql+psycopg://user@host/db', "
            "a file path, or ':memory:'."
        ) from None
    except ImportError as error:
        if backend == "postgresql":
            raise MissingExtraError("psycopg", "postgres", "A PostgreSQL meta-store") from error
        raise
    in_memory = parsed.database in (None, "", ":memory:")
    if in_memory:
        # One connection shared by every session: otherwise each would see its own empty DB.
        engine = create_engine(
            parsed, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed)
    event.listen(engine, "connect", _on_sqlite_connect(in_memory))
    event.listen(engine, "begin", _begin)
    return engine


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """The Alembic configuration of the meta-store's migrations (no ``alembic.ini`` needed).

    Args:
        connection: an open connection to migrate (how the store migrates itself).
        url: else, the database URL that ``env.py`` connects to.
    """
    config = Config()
    config.set_main_option("script_location", "tunegym.metastore:migrations")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration's revision id."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("The meta-store's migrations folder has no revision.")
    return head


def upgrade(engine: Engine) -> str:
    """Bring the database to the newest schema (a no-op when it is there); return its revision."""
    head = head_revision()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Processes opening a new database together would all see no revision and all
            # create the tables; the first takes this lock and migrates, the others wait for its
            # commit (the lock goes with the transaction) and then find the database at head.
            # SQLite needs none: the transaction starts with BEGIN IMMEDIATE.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
            )
        if MigrationContext.configure(connection).get_current_revision() != head:
            command.upgrade(alembic_config(connection), "head")
    return head
