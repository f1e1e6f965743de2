"""`WorkClaims`: jobs that processes sharing a store claim, so that each job is done once.

Collectors (``tunegym collect``) on one store share its work this way: a collector claims a job
(a row of ``collect_claim`` under the job's key) just before it trains it, leaves a job another
collector holds, and deletes its claim once the job's runs are stored. A claim holds for
`CLAIM_SECONDS` and its owner's heartbeat renews it every third of that, so the claims of a
collector that was killed expire and the others take its jobs over. Expiry is read on each
process's clock: machines sharing a PostgreSQL store need clocks within a few seconds.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Final, Self

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from tunegym.errors import MetaStoreError
from tunegym.metastore._retry import LOGGER
from tunegym.metastore._schema import CollectClaim

if TYPE_CHECKING:
    from tunegym.metastore._store import MetaStore

__all__ = ["CLAIM_SECONDS", "WorkClaims", "shared"]

CLAIM_SECONDS: Final = 60.0
# Keys per IN (...) query: well under SQLite's limit on bound parameters.
_CHUNK: Final = 500


def shared(store: MetaStore) -> bool:
    """Whether other processes can open ``store`` (every store but an in-memory one)."""
    url = store.engine.url
    return not (url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"))


class WorkClaims:
    """The claims of one process on jobs of a store; a context manager.

    Inside the block a heartbeat thread renews the claims taken; leaving it deletes them (and
    the expired claims of others).

    Args:
        store: the store the jobs' results go to.
        seconds: how long a claim holds without a heartbeat.

    Example:
        >>> from tunegym.metastore import MetaStore
        >>> with MetaStore(":memory:") as store, WorkClaims(store) as mine:
        ...     theirs = WorkClaims(store)
        ...     mine.take("job-1"), theirs.take("job-1"), sorted(theirs.free(["job-1", "job-2"]))
        (True, False, ['job-2'])
    """

    def __init__(self, store: MetaStore, *, seconds: float = CLAIM_SECONDS) -> None:
        if not seconds > 0:
            raise ValueError(f"A claim must hold a positive number of seconds, got {seconds!r}.")
        self.store = store
        self.seconds = float(seconds)
        self.owner = f"{socket.gethostname()[:150]}:{os.getpid()}:{secrets.token_hex(4)}"
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def _until(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.seconds)

    def take(self, key: str) -> bool:
        """Claim the job ``key``: true when it is now this owner's (it was unclaimed, its
        claim expired, or it was already this owner's); false while another owner holds it."""

        def claim(session: Session) -> bool:
            held = session.scalars(
                select(CollectClaim).where(CollectClaim.key == key).with_for_update()
            ).one_or_none()
            if held is None:
                # Two owners inserting at once: the second fails on the unique key and its new
                # attempt finds this row (`MetaStore._write` retries).
                session.add(CollectClaim(key=key, owner=self.owner, expires=self._until()))
                return True
            if held.owner != self.owner and held.expires > datetime.now(UTC):
                return False
            held.owner, held.expires = self.owner, self._until()
            return True

        return self.store._write("claim", claim)

    def release(self, key: str) -> None:
        """Delete this owner's claim on ``key`` (its results are stored, or it gave up)."""
        self.store._write(
            "release a claim",
            lambda session: session.execute(
                delete(CollectClaim).where(
                    CollectClaim.key == key, CollectClaim.owner == self.owner
                )
            ),
        )

    def free(self, keys: Collection[str]) -> set[str]:
        """The ``keys`` that no other owner holds now (unclaimed, expired, or this owner's)."""
        keys = list(dict.fromkeys(keys))
        now = datetime.now(UTC)
        held: set[str] = set()
        with self.store._reading() as session:
            for start in range(0, len(keys), _CHUNK):
                query = select(CollectClaim.key, CollectClaim.owner, CollectClaim.expires).where(
                    CollectClaim.key.in_(keys[start : start + _CHUNK])
                )
                for key, owner, expires in session.execute(query):
                    if owner != self.owner and expires > now:
                        held.add(key)
        return set(keys) - held

    def renew(self) -> None:
        """Push the expiry of every claim of this owner on by `seconds` (the heartbeat)."""
        self.store._write(
            "renew claims",
            lambda session: session.execute(
                update(CollectClaim)
                .where(CollectClaim.owner == self.owner)
                .values(expires=self._until())
            ),
        )

    def _beat(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                self.renew()
            except MetaStoreError as error:  # the next beat may get through; else they expire
                LOGGER.warning("could not renew the claims of %s: %s", self.owner, error)

    def __enter__(self) -> Self:
        self._stop.clear()
        self._heartbeat = threading.Thread(target=self._beat, name="tunegym-claims", daemon=True)
        self._heartbeat.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        now = datetime.now(UTC)
        try:
            self.store._write(
                "release claims",
                lambda session: session.execute(
                    delete(CollectClaim).where(
                        or_(CollectClaim.owner == self.owner, CollectClaim.expires <= now)
                    )
                ),
            )
        except MetaStoreError as error:  # they expire all the same; an error in flight goes on
            LOGGER.warning("could not release the claims of %s: %s", self.owner, error)
