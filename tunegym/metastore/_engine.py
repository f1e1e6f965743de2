"""Where the meta-store lives, how its engine is built, and its Alembic migrations."""

from __future__ import annotations

import math
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from tunegym.errors import MetaStoreDriverError, MetaStoreOpenError, MetaStoreURLError

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "METASTORE_ENV",
    "READ_ONLY",
    "STORE_TIMEOUT_ENV",
    "alembic_config",
    "default_url",
    "head_revision",
    "make_engine",
    "read_only_file",
    "resolve_url",
    "revisions",
    "schema_revision",
    "shown_url",
    "store_timeout",
    "upgrade",
]

METASTORE_ENV = "TUNEGYM_METASTORE"
# Execution option of the connections that only read (SQLite then takes no write lock).
READ_ONLY = "tunegym_read_only"
_MEMORY = {"sqlite://", ":memory:", "sqlite:///:memory:"}
STORE_TIMEOUT_ENV: Final = "TUNEGYM_STORE_TIMEOUT"
# How long a write waits for another process's lock (SQLite's busy timeout, PostgreSQL's
# lock_timeout), and a PostgreSQL server to answer, before the store gives up with one line.
DEFAULT_TIMEOUT_S: Final = 30.0
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


def store_timeout(seconds: float | None = None) -> float:
    """The store's timeout: ``seconds``, else ``$TUNEGYM_STORE_TIMEOUT``, else 30 s.

    Raises:
        ValueError: for a timeout that is not a positive, finite number of seconds.
    """
    given = seconds if seconds is not None else os.environ.get(STORE_TIMEOUT_ENV)
    if given is None or given == "":
        return DEFAULT_TIMEOUT_S
    try:
        value = float(given)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        where = "timeout" if seconds is not None else f"${STORE_TIMEOUT_ENV}"
        raise ValueError(
            f"The meta-store's {where} must be a positive number of seconds, actually: "
            f"{given!r}; for example {STORE_TIMEOUT_ENV}=30."
        )
    return value


def shown_url(url: str) -> str:
    """``url`` as messages show it: without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite file URL; ``None`` for other URLs and in-memory databases."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if parsed.query.get("uri") or (parsed.database or "").startswith("file:"):
        return None  # a SQLite URI: its mode is the user's
    return Path(parsed.database or "")


def read_only_file(url: str) -> bool:
    """Whether ``url`` is a SQLite file that exists and that this process cannot write, or whose
    folder it cannot write (SQLite writes its journal beside the file)."""
    path = _sqlite_file(url)
    if path is None or not path.is_file():
        return False
    return not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))


def _read_only_uri(path: Path) -> str:
    uri = f"file:{quote(str(path))}?mode=ro"
    # A WAL file is read through its -shm index, which SQLite creates if missing: in a folder
    # it cannot write, it then cannot read at all. No -shm means no process is writing it now,
    # so the file can be read as it is (immutable).
    if not os.access(path.parent, os.W_OK) and not Path(f"{path}-shm").exists():
        with path.open("rb") as file:
            header = file.read(20)
        if len(header) == 20 and header[18] == 2:  # file format 2: WAL
            uri += "&immutable=1"
    return uri


def _enable_wal(cursor: Any, timeout_s: float) -> None:
    # WAL is a property of the file, set once. Switching to it needs the file to itself and
    # SQLite answers "database is locked" at once instead of waiting on busy_timeout, so when
    # several processes open a new store together the switch is retried for a while.
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _on_sqlite_connect(in_memory: bool, read_only: bool, timeout_s: float) -> Any:
    def configure(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy, not the driver, opens transactions (see `_begin`).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={round(timeout_s * 1000)}")
        if not (in_memory or read_only):
            # WAL lets readers work while one process writes; NORMAL is durable under WAL.
            _enable_wal(cursor, timeout_s)
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return configure


def _on_postgres_connect(timeout_s: float) -> Any:
    def configure(dbapi_connection: Any, _record: Any) -> None:
        # A session setting, outside any transaction (a rollback would undo it): a write then
        # waits at most the store's timeout for another's lock, as on SQLite, not forever.
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET lock_timeout = {round(timeout_s * 1000)}")
        cursor.close()
        dbapi_connection.autocommit = autocommit

    return configure


def _begin(connection: Connection) -> None:
    # A write transaction takes the write lock when it starts: a get-or-create that read first
    # and wrote second could otherwise lose to another writer (SQLITE_BUSY, which busy_timeout
    # cannot wait out, or a duplicate key); writers queue up on busy_timeout instead. Readers
    # (READ_ONLY) take no lock: under WAL they read a snapshot while a writer writes.
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def make_engine(
    url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S, read_only: bool = False
) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys, a busy timeout and (files) WAL.

    Args:
        url: a SQLAlchemy URL (`resolve_url`).
        timeout_s: how long a write waits for another process's lock (SQLite's busy timeout,
            PostgreSQL's ``lock_timeout``), and for a PostgreSQL server to answer.
        read_only: open a SQLite file read-only (`read_only_file`): it can then be read
            without write access to it or its folder, and every write fails.

    Raises:
        MetaStoreURLError: (a ``ValueError``) for a URL SQLAlchemy cannot parse, or of an
            unknown database.
        MetaStoreDriverError: (a ``MissingExtraError``) for a database without its driver
            (PostgreSQL: the ``postgres`` extra).
        MetaStoreOpenError: for a SQLite file whose folder cannot be created.
    """
    shown = shown_url(url)
    try:
        parsed = make_url(url)
        backend = parsed.get_backend_name()
        if backend != "sqlite":
            connect_args = {}
            if backend == "postgresql" and "connect_timeout" not in parsed.query:
                connect_args["connect_timeout"] = max(1, math.ceil(timeout_s))
            engine = create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
            if backend == "postgresql":
                event.listen(engine, "connect", _on_postgres_connect(timeout_s))
            return engine
    except (ArgumentError, NoSuchModuleError) as error:
        raise MetaStoreURLError(
            f"Invalid meta-store URL {shown!r} ({type(error).__name__}); give a SQLAlchemy "
            "URL such as 'sqlite:///path/to/store.sqlite' or "
            "'postgresql+psycopg://user@host/db', a file path, or ':memory:'."
        ) from None
    except ImportError as error:
        package = error.name or parsed.get_driver_name()
        extra = "postgres" if backend == "postgresql" else None
        raise MetaStoreDriverError(shown, package, extra) from error
    in_memory = parsed.database in (None, "", ":memory:")
    if in_memory:
        # One connection shared by every session: otherwise each would see its own empty DB.
        engine = create_engine(
            parsed, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        path = Path(parsed.database or "")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise MetaStoreOpenError(
                f"could not open the meta-store {shown}: its folder {path.parent} cannot be "
                f"created ({error.strerror or error}). Check the path, or point --store elsewhere."
            ) from None
        engine = create_engine(parsed)
        if read_only:
            event.listen(engine, "do_connect", _connect_read_only(path))
    event.listen(engine, "connect", _on_sqlite_connect(in_memory, read_only, timeout_s))
    event.listen(engine, "begin", _begin)
    return engine


def _connect_read_only(path: Path) -> Any:
    def connect(_dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
        cargs[:] = [_read_only_uri(path)]
        cparams["uri"] = True

    return connect


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


def revisions() -> set[str]:
    """Every migration's revision id (a store at another one is newer than this tunegym)."""
    scripts = ScriptDirectory.from_config(alembic_config())
    return {script.revision for script in scripts.walk_revisions()}


def schema_revision(engine: Engine) -> str | None:
    """The database's revision (``None``: no tunegym tables yet), read without a write lock."""
    with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
        connection.rollback()
    return revision


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
