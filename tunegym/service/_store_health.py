"""The meta-store's failures as the service tells them: one line, what broke and what to do.

A store that refuses a write (a full disk, a read-only file, a lock held too long, a database
that went away) is the operator's problem, not the client's: the service answers a JSON 503
whose ``detail`` names the problem and the fix (`unavailable`), remembers it for
``/v1/health``, and checks the store there too (`probe`): a read, and for a SQLite file whether
it and its folder can be written and the disk has room.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Final

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tunegym.metastore import MetaStore
from tunegym.metastore._engine import READ_ONLY
from tunegym.service._errors import StoreUnavailableError

__all__ = ["LOW_DISK_BYTES", "probe", "reason_of", "unavailable"]

LOW_DISK_BYTES: Final = 16 << 20
"""Free space under which ``/v1/health`` calls a SQLite store's disk nearly full (16 MiB)."""

# (words in the database's message, what the store is then, what to do), first match wins.
_PROBLEMS: Final = (
    (
        ("disk is full", "disk full", "no space left", "could not extend file", "quota"),
        "is full",
        "free space on its disk (or raise the database's size limit)",
    ),
    (
        ("readonly", "read-only", "read only", "permission denied"),
        "is read-only",
        "give the service write access to it (the file and its folder, or a writable "
        "PostgreSQL primary)",
    ),
    (
        ("locked", "busy", "deadlock", "serializ", "another writer"),
        "is busy",
        "wait a moment",
    ),
    (
        ("unable to open", "could not connect", "connection", "server closed", "terminating"),
        "cannot be reached",
        "check the --store URL and that the database is up",
    ),
)


def reason_of(error: BaseException) -> str:
    """The database's own message, on one line: the driver's error, else the error's text."""
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, DBAPIError):
        cause = cause.__cause__ or cause.__context__
    message = str(cause.orig) if isinstance(cause, DBAPIError) else str(error)
    lines = message.strip().splitlines()
    return lines[0].strip() if lines else type(error).__name__


def unavailable(error: BaseException, failed: str, then: str) -> StoreUnavailableError:
    """The 503 of a store error: ``"The meta-store is full (database or disk is full): ..."``.

    Args:
        error: what the store raised (a `tunegym.errors.MetaStoreWriteError`, a SQLAlchemy
            ``DBAPIError``, ...).
        failed: what did not happen ("the reported runs were not stored").
        then: what the client does once the store is fixed ("send the report again").
    """
    reason = reason_of(error)
    lowered = reason.lower()
    for words, problem, advice in _PROBLEMS:
        if any(word in lowered for word in words):
            return StoreUnavailableError(
                f"The meta-store {problem} ({reason}): {failed}; {advice}, then {then}."
            )
    return StoreUnavailableError(
        f"The meta-store failed ({reason}): {failed}; see the service's log, then {then}."
    )


def probe(store: MetaStore) -> tuple[bool, str | None]:
    """Whether the store can be read, and what a cheap look at it finds wrong (one line).

    Reads one row; for a SQLite file, checks that it and its folder are writable (its journal
    lives beside it) and that the disk has `LOW_DISK_BYTES` free; for PostgreSQL, that it is
    not a read-only standby. A full database (SQLite's ``max_page_count``, a PostgreSQL
    tablespace) shows only when a write fails: `WarmStartService` remembers that failure.
    """
    url = store.engine.url
    try:
        # A reader's connection: SQLite takes no write lock, so a long write never stalls it.
        with store.engine.execution_options(**{READ_ONLY: True}).connect() as connection:
            connection.execute(text("SELECT 1"))
            standby = (
                connection.execute(text("SELECT pg_is_in_recovery()")).scalar()
                if url.get_backend_name() == "postgresql"
                else False
            )
    except Exception as exc:  # any driver error: health must answer, naming it
        return False, unavailable(exc, "it cannot be read", "check again").detail
    if standby:
        return True, (
            "The meta-store is read-only (a PostgreSQL standby): reports will fail; point "
            "--store at the primary."
        )
    database = url.database if url.get_backend_name() == "sqlite" else None
    path = Path(database) if database and database != ":memory:" else None
    if path is None or not path.is_file():
        return True, None
    if not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
        return True, (
            f"The meta-store is read-only ({path} or its folder cannot be written): reports "
            "will fail; give the service write access to both."
        )
    free = shutil.disk_usage(path.parent).free
    if free < LOW_DISK_BYTES:
        return True, (
            f"The meta-store's disk is nearly full ({free / 2**20:.1f} MiB free under "
            f"{path.parent}): reports will soon fail; free space on it."
        )
    return True, None
