"""The simulated training of one benchmark episode: cost per new epoch, incumbent per epoch.

A tuner (a peer) asks the `Ledger` to train a configuration of the pool up to some epoch. The
ledger charges only the epochs the configuration has not trained yet (continuing a paused trial
costs its new epochs; asking again for what is known costs nothing), and after **each** epoch it
updates the incumbent — the configuration and epoch of the best validation score seen — so the
anytime curve is read per epoch (protocol v2), not per step. When the budget (epochs, and
seconds if given) runs out in the middle of a request, the epochs that fit are recorded and
`BudgetSpent` ends the tuner's loop.

Each configuration's trial draws one of the pool's seeds the first time it trains and keeps it;
the incumbent is worth its configuration's seed-mean curve at its epoch (`CurvePool.truth`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tunegym.envs._pool import CurvePool

__all__ = ["BudgetSpent", "EpisodeTrace", "Ledger"]


class BudgetSpent(Exception):
    """The episode's budget is spent; raised out of `Ledger.train` to end the tuner's loop."""


@dataclass(frozen=True)
class EpisodeTrace:
    """One episode read per epoch of cost: index ``k`` is after ``k + 1`` epochs were charged.

    Attributes:
        regret: normalised regret of the incumbent's seed-mean score.
        test: the incumbent run's test score.
        val: the incumbent's validation score (what the tuner saw).
        seconds: cumulative training seconds.
        configs: distinct configurations trained.
        decision_seconds: the tuner's own time (wall time outside the ledger).
    """

    regret: npt.NDArray[np.float64]
    test: npt.NDArray[np.float64]
    val: npt.NDArray[np.float64]
    seconds: npt.NDArray[np.float64]
    configs: int
    decision_seconds: float


class Ledger:
    """Charges the epochs a tuner trains on a `CurvePool` and records the incumbent per epoch.

    Args:
        pool: the task.
        budget: epochs the episode may charge.
        seed: seed of the trials' seed draws (the episode's data seed).
        budget_seconds: also stop once this many training seconds are spent (``None``: no limit).

    Example:
        >>> import numpy as np
        >>> from tunegym.space import Float, Space
        >>> space = Space([Float("lr", 0.001, 1.0, log=True)])
        >>> curves = np.array([[[0.5, 0.6]], [[0.7, 0.9]]])
        >>> pool = CurvePool("toy", "toy", "meta-test", space, ({"lr": 0.01}, {"lr": 0.1}),
        ...                  curves, curves, np.ones_like(curves))
        >>> ledger = Ledger(pool, budget=3, seed=0)
        >>> ledger.train(1, 1), ledger.train(1, 2), ledger.spent
        (0.7, 0.9, 2)
    """

    def __init__(
        self, pool: CurvePool, budget: int, seed: int, budget_seconds: float | None = None
    ) -> None:
        if budget < 1:
            raise ValueError(f"budget must be >= 1 epoch, got {budget!r}.")
        self.pool = pool
        self.budget = int(budget)
        self.budget_seconds = budget_seconds
        self.trained = np.zeros(pool.n, dtype=np.int64)
        self._rng = np.random.default_rng(seed)
        self._seed_of = np.full(pool.n, -1, dtype=np.int64)
        self._regret = np.ones(self.budget)
        self._test = np.full(self.budget, np.nan)
        self._val = np.full(self.budget, np.nan)
        self._seconds = np.zeros(self.budget)
        self._best = (-np.inf, -1, -1)  # (val, config, epoch) of the incumbent
        self.order: list[int] = []
        """Configurations in the order they first trained."""
        self.spent = 0
        self.clock = 0.0
        self.own_seconds = 0.0

    @property
    def left(self) -> int:
        """Epochs of budget left."""
        return self.budget - self.spent

    @property
    def exhausted(self) -> bool:
        """Whether no epoch is left (or the seconds budget is spent)."""
        over_time = self.budget_seconds is not None and self.clock >= self.budget_seconds
        return self.spent >= self.budget or over_time

    @property
    def incumbent(self) -> int | None:
        """The incumbent configuration's index (``None`` before any epoch)."""
        return None if self._best[1] < 0 else int(self._best[1])

    @property
    def incumbent_epoch(self) -> int | None:
        """The epoch (1-based) at which the incumbent reached its score (``None`` before any)."""
        return None if self._best[1] < 0 else int(self._best[2]) + 1

    def train(self, config: int, to_epoch: int) -> float:
        """Train ``config`` up to ``to_epoch`` (capped at the curves' length); its score there.

        Raises:
            BudgetSpent: the budget ran out before ``to_epoch`` (the epochs that fit are kept).
            IndexError: no such configuration.
        """
        start = time.perf_counter()
        try:
            pool, i = self.pool, int(config)
            if not 0 <= i < pool.n:
                raise IndexError(f"Configuration {i} is not in the pool of {pool.n}.")
            target = max(1, min(int(to_epoch), pool.max_epochs))
            if self._seed_of[i] < 0:
                self._seed_of[i] = int(self._rng.integers(pool.n_seeds))
                self.order.append(i)
            s = int(self._seed_of[i])
            while self.trained[i] < target:
                if self.exhausted:
                    raise BudgetSpent
                e = int(self.trained[i])  # 0-based index of the epoch being trained
                self.trained[i] += 1
                self.clock += float(pool.seconds[i, s, e])
                value = float(pool.val[i, s, e])
                if value > self._best[0]:
                    self._best = (value, i, e)
                _, bi, be = self._best
                k = self.spent
                self._regret[k] = pool.regret(pool.truth[bi, be])
                self._test[k] = pool.test[bi, int(self._seed_of[bi]), be]
                self._val[k] = self._best[0]
                self._seconds[k] = self.clock
                self.spent += 1
            return float(pool.val[i, s, target - 1])
        finally:
            self.own_seconds += time.perf_counter() - start

    def score(self, config: int, epoch: int) -> float:
        """The validation score ``config`` showed at ``epoch`` (which it must have trained)."""
        if not 1 <= epoch <= self.trained[config]:
            raise ValueError(
                f"Configuration {config} trained {self.trained[config]} epochs, not {epoch}."
            )
        return float(self.pool.val[config, self._seed_of[config], epoch - 1])

    def trace(self, wall_seconds: float) -> EpisodeTrace:
        """The episode so far, read per epoch; epochs never charged keep the last incumbent."""
        k = self.spent
        regret, test, val, seconds = (a.copy() for a in (self._regret, self._test,
                                                          self._val, self._seconds))  # fmt: skip
        if 0 < k < self.budget:
            for a in (regret, test, val, seconds):
                a[k:] = a[k - 1]
        return EpisodeTrace(
            regret=regret,
            test=test,
            val=val,
            seconds=seconds,
            configs=int((self.trained > 0).sum()),
            decision_seconds=max(0.0, wall_seconds - self.own_seconds),
        )
