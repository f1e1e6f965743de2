"""A store that cannot be opened, read or written, told in one line.

The line names the store (its URL without password), says what is wrong (read-only, full,
locked by another process, unreachable, not a database), gives the database's own reason, and
says what to do. The database driver's error stays reachable as ``__context__``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Final

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import OperationalError as SAOperationalError

from tunegym.errors import (
    MetaStoreError,
    MetaStoreFullError,
    MetaStoreLockedError,
    MetaStoreOpenError,
    MetaStoreReadOnlyError,
    MetaStoreWriteError,
)
from tunegym.metastore._engine import STORE_TIMEOUT_ENV

__all__ = ["open_error", "read_error", "reason_of", "write_error"]


@dataclass(frozen=True)
class _Problem:
    """What is wrong with a store, as a sentence about it ("it is read-only"), and the fix."""

    kind: type[MetaStoreError]
    problem: str
    advice: str


_READ_ONLY: Final = _Problem(
    MetaStoreReadOnlyError,
    "it is read-only",
    "Give this user write access to it (for a SQLite file: the file and its folder) or point "
    "--store elsewhere; it can still be read.",
)
_FULL: Final = _Problem(
    MetaStoreFullError, "its disk is full", "Free space on it or point --store elsewhere."
)
_UNREACHABLE: Final = _Problem(
    MetaStoreOpenError,
    "it cannot be reached",
    "Check the --store URL (host, port, database name, user) and that the database server is up.",
)
_LOGIN: Final = _Problem(
    MetaStoreOpenError,
    "the server refused the login",
    "Check the user and password of the --store URL.",
)
_NO_DATABASE: Final = _Problem(
    MetaStoreOpenError,
    "the database does not exist",
    "Create it (createdb NAME) or fix the database name of the --store URL.",
)
_CANNOT_OPEN: Final = _Problem(
    MetaStoreOpenError,
    "the file cannot be opened",
    "Check that the path is right and that its folder exists and can be written, or point "
    "--store elsewhere.",
)
_NOT_A_DATABASE: Final = _Problem(
    MetaStoreOpenError,
    "it is not a SQLite database",
    "Point --store at a tunegym store or at a new file.",
)

# Primary result codes (https://sqlite.org/rescode.html).
_SQLITE: Final = {
    3: _READ_ONLY,  # SQLITE_PERM
    8: _READ_ONLY,  # SQLITE_READONLY
    13: _FULL,  # SQLITE_FULL
    14: _CANNOT_OPEN,  # SQLITE_CANTOPEN
    26: _NOT_A_DATABASE,  # SQLITE_NOTADB
}
_SQLITE_LOCKED: Final = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED
# The same, by SQLite's messages, for an error raised without its code.
_SQLITE_MESSAGES: Final = {
    "readonly database": 8,
    "disk is full": 13,
    "database is locked": 5,
    "table is locked": 6,
    "unable to open database": 14,
    "not a database": 26,
}
# PostgreSQL SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html).
_POSTGRES: Final = {
    "53100": _FULL,  # disk_full
    "25006": _READ_ONLY,  # read_only_sql_transaction (a standby, a read-only database)
    "28000": _LOGIN,
    "28P01": _LOGIN,
    "3D000": _NO_DATABASE,
    "57P01": _UNREACHABLE,  # admin_shutdown
    "57P03": _UNREACHABLE,  # cannot_connect_now
}
_POSTGRES_LOCKED: Final = "55P03"  # lock_not_available: lock_timeout ran out
# A server's refusal to connect comes without a SQLSTATE: told by its message.
_REFUSALS: Final = {
    "authentication failed": _LOGIN,
    "no password supplied": _LOGIN,
    "does not exist": _NO_DATABASE,  # 'database "x" does not exist' (a role: see below)
}


def _driver_error(error: BaseException) -> BaseException:
    return error.orig if isinstance(error, DBAPIError) and error.orig is not None else error


def reason_of(error: BaseException) -> str:
    """The database's own message, on one line (without the SQL SQLAlchemy appends)."""
    driver_error = _driver_error(error)
    lines = str(driver_error).strip().splitlines()
    return lines[0].strip() if lines else type(driver_error).__name__


def _diagnose(error: BaseException, timeout_s: float) -> _Problem | None:
    driver_error = _driver_error(error)
    locked = _Problem(
        MetaStoreLockedError,
        f"another process has held it locked for more than {timeout_s:g} s",
        f"Wait for that process to finish (or stop it), or set {STORE_TIMEOUT_ENV} to more "
        "seconds to wait longer.",
    )
    if isinstance(driver_error, sqlite3.Error):
        code = getattr(driver_error, "sqlite_errorcode", None)
        if code is None:
            message = str(driver_error)
            code = next((c for words, c in _SQLITE_MESSAGES.items() if words in message), 0)
        return locked if code & 0xFF in _SQLITE_LOCKED else _SQLITE.get(code & 0xFF)
    sqlstate = getattr(driver_error, "sqlstate", None)
    if sqlstate == _POSTGRES_LOCKED:
        return locked
    if sqlstate in _POSTGRES:
        return _POSTGRES[sqlstate]
    if isinstance(sqlstate, str) and sqlstate.startswith("08"):  # connection exceptions
        return _UNREACHABLE
    if sqlstate is None and isinstance(error, SAOperationalError):
        # A server's driver that could not connect (refused, no such host, timed out) gives
        # no SQLSTATE, nor does a connection lost on the way.
        message = reason_of(error)
        if "role" in message and "does not exist" in message:  # 'role "x" does not exist'
            return _LOGIN
        return next((p for words, p in _REFUSALS.items() if words in message), _UNREACHABLE)
    return None


def _line(head: str, problem: _Problem, error: BaseException) -> str:
    return f"{head}: {problem.problem} ({reason_of(error)}). {problem.advice}"


def write_error(
    error: BaseException, what: str, store: str, timeout_s: float
) -> MetaStoreWriteError | None:
    """The one-line error of a write ``what`` that ``error`` ended, if it is one of the known
    problems (read-only, full, locked, unreachable); ``None`` otherwise."""
    problem = _diagnose(error, timeout_s)
    if problem is None:
        return None
    kind = problem.kind if issubclass(problem.kind, MetaStoreWriteError) else MetaStoreWriteError
    return kind(_line(f"{what} could not write to the meta-store {store}", problem, error))


def read_error(error: BaseException, store: str, timeout_s: float) -> MetaStoreError:
    """The one-line error of a read that ``error`` ended."""
    problem = _diagnose(error, timeout_s)
    head = f"could not read the meta-store {store}"
    if problem is None:
        return MetaStoreError(
            f"{head}: {reason_of(error)}. Check that it is reachable and a tunegym store."
        )
    return MetaStoreError(_line(head, problem, error))


def open_error(error: BaseException, store: str, timeout_s: float) -> MetaStoreError:
    """The one-line error of a store that ``error`` kept from opening (or migrating)."""
    problem = _diagnose(error, timeout_s)
    head = f"could not open the meta-store {store}"
    if problem is None:
        return MetaStoreOpenError(
            f"{head}: {reason_of(error)}. Check that it is reachable, writable and a tunegym "
            "store, or point --store elsewhere."
        )
    kind = problem.kind if issubclass(problem.kind, MetaStoreWriteError) else MetaStoreOpenError
    return kind(_line(head, problem, error))
