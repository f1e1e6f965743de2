"""Jobs shared by processes working on one store: each runs the jobs it claims (`WorkClaims`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import closing
from typing import Any, Final, TypeVar

from tunegym.metastore._claims import WorkClaims
from tunegym.parallel import as_completed_results

__all__ = ["shared_results"]

# How often a process waiting for jobs that others hold looks at their claims again.
WAIT_POLL_S: Final = 1.0

_Job = TypeVar("_Job")
_Result = TypeVar("_Result")


def shared_results(
    pool: Executor,
    function: Callable[..., _Result],
    jobs: Sequence[_Job],
    args: tuple[Any, ...],
    *,
    claims: WorkClaims | None,
    key: Callable[[_Job], str],
    stored: Callable[[_Job], bool],
    window: int,
) -> Generator[tuple[_Job, _Result | BaseException | None], None, None]:
    """`as_completed_results` of ``function(job, *args)`` over the jobs no other process takes.

    Each job is claimed just before it is submitted (``window`` at most in flight) and checked
    against the store (``stored``: another process may have finished it since the caller
    looked); its claim is released when the caller asks for the next result, that is once it
    has stored this one. A job another process holds is left for later: once this process's
    own jobs are done, it waits for those claims to end and takes the jobs that are still not
    stored. A job found stored comes with ``None`` (done elsewhere).

    Args:
        pool: where jobs run.
        function: what runs them.
        jobs: the jobs not stored when the caller looked.
        args: ``function``'s further arguments.
        claims: this process's claims; ``None`` (a store no other process opens): every job is
            run, without claims.
        key: a job's claim key.
        stored: whether the store holds a job's results now.
        window: jobs claimed and not yet yielded, at most.
    """
    if claims is None:
        yield from as_completed_results(pool, function, jobs, *args, window=window)
        return
    todo: list[_Job] = list(jobs)
    held: list[_Job] = []
    while todo or held:
        if not todo:
            todo, held = _when_free(claims, held, key)
        elsewhere: list[_Job] = []
        claimed = _claimed(todo, claims, key, stored, held, elsewhere)
        todo = []
        with closing(as_completed_results(pool, function, claimed, *args, window=window)) as ran:
            for job, result in ran:
                yield from _drained(elsewhere)
                yield job, result
                claims.release(key(job))  # its results are stored (or it failed)
        yield from _drained(elsewhere)


def _claimed(
    jobs: list[_Job],
    claims: WorkClaims,
    key: Callable[[_Job], str],
    stored: Callable[[_Job], bool],
    held: list[_Job],
    elsewhere: list[_Job],
) -> Iterator[_Job]:
    """The ``jobs`` claimed here and not stored; those others hold go to ``held``, those found
    stored to ``elsewhere``."""
    for job in jobs:
        if not claims.take(key(job)):
            held.append(job)
        elif stored(job):
            claims.release(key(job))
            elsewhere.append(job)
        else:
            yield job


def _drained(elsewhere: list[_Job]) -> Iterator[tuple[_Job, None]]:
    while elsewhere:
        yield elsewhere.pop(0), None


def _when_free(
    claims: WorkClaims, held: list[_Job], key: Callable[[_Job], str]
) -> tuple[list[_Job], list[_Job]]:
    """Wait until a job of ``held`` is no longer claimed by another process (it was stored,
    given up, or its claim expired); return the free jobs and those still held."""
    while True:
        free = claims.free([key(job) for job in held])
        if free:
            return [j for j in held if key(j) in free], [j for j in held if key(j) not in free]
        time.sleep(WAIT_POLL_S)
