"""Successive halving and Hyperband (Li et al. 2017) as new/continue actions.

Brackets follow Li et al.'s Algorithm 1 with ``R = E_max / min_epochs`` in units of
``min_epochs``: ``s_max = floor(log_eta R)``; bracket ``s`` starts ``n = ceil((s_max + 1) /
(s + 1) * eta^s)`` configurations and its rung ``i`` keeps ``floor(n / eta^i)`` of them, each
trained to ``E_max * eta^(i - s)`` epochs, rounded to the nearest integer (at least
``min_epochs``; the last rung is exactly ``E_max``). Rung 0 starts new trials; a later rung
continues the survivors (the best validation scores at the end of the previous rung; diverged
trials never survive) by the epochs the new rung adds.

A survivor whose trial has lost its slot (more trials started than ``n_slots``: the env replaces
the worst) restarts from scratch to the rung's epochs (with another trial seed; skipped when its
configuration has had every one) and is counted in ``n_restarts``. A bracket draws among the
candidates that can still start a trial. Every
trial costs at least one epoch, so an env with ``n_slots >= budget_epochs`` never replaces a
trial and runs the textbook algorithm (see ``docs/BASELINES.md``).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from tunegym.baselines._jobs import Job, JobPolicy
from tunegym.envs import TuningEnv

__all__ = ["Bracket", "Hyperband", "SuccessiveHalving", "hyperband_brackets"]


@dataclass(frozen=True)
class Bracket:
    """One successive-halving bracket.

    Attributes:
        s: the bracket's index (``s_max`` is the most exploratory).
        rungs: ``(n_configs, epochs)`` per rung: how many trials reach how many epochs.
    """

    s: int
    rungs: tuple[tuple[int, int], ...]


def _check_int(name: str, value: int, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}.")


def hyperband_brackets(max_epochs: int, eta: int = 3, min_epochs: int = 1) -> tuple[Bracket, ...]:
    """Hyperband's brackets for trials of at most ``max_epochs`` epochs, most exploratory first.

    Args:
        max_epochs: the maximum resource ``E_max``.
        eta: the reduction factor (each rung keeps ``1 / eta`` of the trials).
        min_epochs: the minimum resource (epochs of the first rung of the last bracket ``s_max``).

    Returns:
        Brackets ``s = s_max, ..., 0``.

    Example:
        >>> [b.rungs for b in hyperband_brackets(16)]
        [((9, 2), (3, 5), (1, 16)), ((5, 5), (1, 16)), ((3, 16),)]
    """
    _check_int("max_epochs", max_epochs, 1)
    _check_int("eta", eta, 2)
    _check_int("min_epochs", min_epochs, 1)
    if min_epochs > max_epochs:
        raise ValueError(f"min_epochs ({min_epochs}) must not exceed max_epochs ({max_epochs}).")
    s_max = 0
    while min_epochs * eta ** (s_max + 1) <= max_epochs:  # integer floor(log_eta R)
        s_max += 1
    brackets = []
    for s in range(s_max, -1, -1):
        n = -(-(s_max + 1) * eta**s // (s + 1))  # ceil((s_max + 1) / (s + 1) * eta^s)
        rungs = tuple(
            (
                n // eta**i,
                max_epochs if i == s else max(min_epochs, int(max_epochs / eta ** (s - i) + 0.5)),
            )
            for i in range(s + 1)
        )
        brackets.append(Bracket(s, rungs))
    return tuple(brackets)


class Hyperband(JobPolicy):
    """Hyperband: its brackets in turn (``s_max`` down to 0), restarted until the budget is spent.

    Configurations are drawn uniformly from the candidates (the grid's points, lr-major, or the
    candidates of any space), distinct within a rung when there are enough. Survivors are ranked by their validation score at the end of the rung (ties:
    the earlier trial first).

    Args:
        eta: reduction factor.
        min_epochs: the minimum resource (epochs).

    Attributes:
        brackets: the brackets of the current episode's task (set by ``reset``).
    """

    def __init__(self, *, eta: int = 3, min_epochs: int = 1) -> None:
        _check_int("eta", eta, 2)
        _check_int("min_epochs", min_epochs, 1)
        self.eta, self.min_epochs = eta, min_epochs

    def _schedule(self, brackets: tuple[Bracket, ...]) -> tuple[Bracket, ...]:
        """The brackets run in turn."""
        return brackets

    def _start(self, env: TuningEnv, seed: int) -> None:
        e_max = self.task.space.max_epochs
        if self.min_epochs > e_max:
            raise ValueError(f"min_epochs ({self.min_epochs}) exceeds the task's E_max ({e_max}).")
        self.brackets = self._schedule(hyperband_brackets(e_max, self.eta, self.min_epochs))
        self._bracket = -1  # index into brackets of the bracket running
        self._rung = 0
        self._pending: deque[Job] = deque()
        self._results: list[Job] = []

    def _next_job(self) -> Job | None:
        while not self._pending:
            if not self._next_rung():
                return None  # no candidate can start a trial: no bracket can run
        return self._pending.popleft()

    def _job_done(self, job: Job) -> None:
        self._results.append(job)

    def _next_rung(self) -> bool:
        """Queue the next rung's jobs; False when a new bracket has no candidate to start."""
        rungs = self.brackets[self._bracket].rungs if self._bracket >= 0 else ()
        if self._bracket >= 0 and self._rung + 1 < len(rungs):
            self._rung += 1
            n, epochs = rungs[self._rung]
            alive = [job for job in self._results if not (job.diverged or math.isnan(job.val))]
            alive.sort(key=lambda job: -job.val)  # stable: earlier trials first on ties
            self._pending.extend(job.extend(epochs) for job in alive[:n])
        else:
            self._bracket = (self._bracket + 1) % len(self.brackets)
            self._rung = 0
            n, epochs = self.brackets[self._bracket].rungs[0]
            # Among the candidates that can still start a trial (every one, unless some have
            # had all their trial seeds): then the draw is the one Hyperband always made.
            pool = np.flatnonzero(self._startable())
            if not len(pool):
                return False
            picks = pool[self.rng.choice(len(pool), size=n, replace=n > len(pool))]
            self._pending.extend(Job(int(p), epochs) for p in picks)
        self._results = []
        return True


class SuccessiveHalving(Hyperband):
    """Successive halving: Hyperband's most exploratory bracket (``s_max``), again and again.

    ``eta^s_max`` configurations start at about ``E_max / eta^s_max`` epochs; each rung keeps the
    best ``1 / eta`` until one reaches ``E_max``; then a new bracket starts.

    Args:
        eta: reduction factor.
        min_epochs: the minimum resource (epochs).
    """

    def _schedule(self, brackets: tuple[Bracket, ...]) -> tuple[Bracket, ...]:
        return brackets[:1]
