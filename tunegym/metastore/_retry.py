"""Many writers, one store: retry a write transaction that lost a race with another writer.

Under PostgreSQL's READ COMMITTED, two writers that get-or-create the same row both find it
missing, both insert it, and the second insert fails on the unique constraint once the first
commits; a new attempt then finds the row. Deadlocks and serialization failures end one
transaction of several, which another attempt also resolves. Each write of `MetaStore` is one
unit of work without side effects outside the database, so running it again is safe.

A Ctrl-C is held until the transaction ends (`whole`): one that lands inside SQLAlchemy's
commit or its return of the connection to the pool can leave a SQLite connection holding the
file's write lock, so that the next write (the one that keeps the interrupted run's epochs)
waits out the busy timeout and fails as "locked".
"""

from __future__ import annotations

import logging
import random
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Final, TypeVar

from sqlalchemy.exc import DBAPIError

from tunegym.errors import MetaStoreWriteError
from tunegym.metastore._failures import write_error

__all__ = ["ATTEMPTS", "LOGGER", "conflict_of", "retrying", "whole"]

T = TypeVar("T")

ATTEMPTS: Final = 10
# Each retry is logged here at DEBUG level (``experiments/store_writers.py`` counts them).
LOGGER: Final = logging.getLogger("tunegym.metastore")
# Full jitter: attempt k sleeps uniformly in [0, min(_LONGEST, _FIRST * 2**k)] seconds, so that
# writers who collided do not collide again in step.
_FIRST_DELAY_S: Final = 0.005
_LONGEST_DELAY_S: Final = 0.5
# No new attempt starts after this long (SQLite's busy timeout has already waited as long).
_DEADLINE_S: Final = 30.0
# PostgreSQL SQLSTATEs that another writer caused.
_SQLSTATES: Final = {
    "23505": "a row it adds was added by another writer at the same time",
    "40001": "a serialization failure",
    "40P01": "a deadlock with another writer",
}


def conflict_of(error: DBAPIError) -> str | None:
    """How ``error`` is a lost race that another attempt can win, or ``None`` if it is not.

    Retried: unique violations (a concurrent get-or-create), serialization failures and
    deadlocks on PostgreSQL; unique violations and "database is locked" on SQLite.
    """
    driver_error = error.orig
    sqlstate = getattr(driver_error, "sqlstate", None)
    if sqlstate in _SQLSTATES:
        return _SQLSTATES[sqlstate]
    message = str(driver_error)
    if isinstance(driver_error, sqlite3.IntegrityError) and message.startswith("UNIQUE"):
        return _SQLSTATES["23505"]
    if isinstance(driver_error, sqlite3.OperationalError) and "locked" in message:
        return "the database file locked by another writer"
    return None


@contextmanager
def whole() -> Iterator[None]:
    """Run the block whole: a Ctrl-C (SIGINT) that comes during it is delivered when it ends.

    A second Ctrl-C during the block interrupts it at once (a write stuck on a lock can be
    given up). Outside the main thread, where Python delivers no signal, or where SIGINT's
    handler is not Python's, the block runs as it is.
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is None:
        yield
        return
    came: list[int] = []

    def hold(signum: int, _frame: FrameType | None) -> None:
        if came:
            raise KeyboardInterrupt
        came.append(signum)

    signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if came:  # also after a failed block: the Ctrl-C is the user's, not to be lost
            signal.raise_signal(signal.SIGINT)  # to the handler that was there: usually raises


def _reason(error: DBAPIError) -> str:
    """The driver's message, on one line (without the SQL that SQLAlchemy appends)."""
    lines = str(error.orig).strip().splitlines()
    return lines[0] if lines else type(error.orig).__name__


def retrying(work: Callable[[], T], what: str, store: str, timeout_s: float = _DEADLINE_S) -> T:
    """``work()``, run again after a short jittered sleep while it loses races to other writers.

    Args:
        work: one whole transaction (it begins, and commits or rolls back, inside).
        what: the operation, for the error message (``"log_trial"``).
        store: the store's URL without password, for the error message.
        timeout_s: no new attempt starts after this long (the store's timeout: SQLite's busy
            timeout has already waited as long).

    Raises:
        MetaStoreWriteError: with a one-line message, when the database refuses the write for
            another reason, or after `ATTEMPTS` attempts (or ``timeout_s``) of lost races; a
            `MetaStoreReadOnlyError`, `MetaStoreFullError` or `MetaStoreLockedError` (its
            subclasses) when the store is read-only, full, or locked by another process.
    """
    started, attempt = time.monotonic(), 1
    while True:
        try:
            return work()
        except DBAPIError as error:
            conflict = conflict_of(error)
            if conflict is None or attempt == ATTEMPTS or time.monotonic() - started > timeout_s:
                known = write_error(error, what, store, timeout_s)
                raise known or MetaStoreWriteError(
                    _message(error, conflict, attempt, what, store)
                ) from None
            LOGGER.debug("%s: attempt %d lost a race (%s); retrying", what, attempt, conflict)
        time.sleep(random.uniform(0, min(_LONGEST_DELAY_S, _FIRST_DELAY_S * 2 ** (attempt - 1))))
        attempt += 1


def _message(error: DBAPIError, conflict: str | None, attempts: int, what: str, store: str) -> str:
    if conflict is None:
        return (
            f"{what} could not write to the meta-store {store}: {_reason(error)}. "
            "Check that the database is reachable, writable and a tunegym store."
        )
    return (
        f"{what} could not write to the meta-store {store}: {conflict}, on each of {attempts} "
        f"attempts ({_reason(error)}). If many processes write at once, try again; if none "
        "does, the rows it adds clash with stored ones."
    )
