"""Full-trial searches: random, grid, and the two warm-started variants of random search.

Each trial is one job of ``E_max`` epochs (see `tunegym.baselines.JobPolicy` for how a job
becomes actions): ``k = E_max`` when that increment exists and fits the budget, otherwise the
largest valid ``k``, continuing the same trial until ``E_max``. When the budget left cannot fund a
full trial the last one is partial: it trains as many epochs as remain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tunegym.baselines._jobs import Job, JobPolicy
from tunegym.envs import SearchSpace, TuningEnv

if TYPE_CHECKING:
    from tunegym.metastore import WarmStart

__all__ = ["BoxRandomSearch", "GridSearch", "RandomSearch", "WarmStartRandomSearch"]


class RandomSearch(JobPolicy):
    """Random search: full ``E_max`` trials of grid configurations drawn uniformly.

    Learning rate and batch size are drawn independently and uniformly from the grid, with
    replacement (Bergstra & Bengio's random search on a grid); a repeated configuration is a new
    trial, possibly with another trial seed.
    """

    def _start(self, env: TuningEnv, seed: int) -> None:
        space = self.task.space
        self._lr_choices = np.arange(len(space.lrs))
        self._bs_choices = np.arange(len(space.batch_sizes))
        self._queue: list[tuple[int, int]] = []  # configurations to try before random ones

    def _next_job(self) -> Job | None:
        if self._queue:
            lr_index, bs_index = self._queue.pop(0)
        else:
            lr_index = int(self.rng.choice(self._lr_choices))
            bs_index = int(self.rng.choice(self._bs_choices))
        return Job(lr_index, bs_index, self.task.space.max_epochs)


def _grid_indices(space: SearchSpace, lr: float, batch_size: int, what: str) -> tuple[int, int]:
    try:
        return space.lr_index(lr), space.batch_size_index(batch_size)
    except ValueError as error:
        raise ValueError(
            f"{what} (lr={lr!r}, batch_size={batch_size!r}) is not on the env's grid: {error} "
            "Compute the warm start for the env's grid (warm_start(store, target, space.lrs, "
            "space.batch_sizes))."
        ) from None


class WarmStartRandomSearch(RandomSearch):
    """Random search that first tries the meta-store's portfolio, in its order.

    Every portfolio entry is a full ``E_max`` trial (the epoch at which it peaked on the
    neighbour is not used); then random search goes on over the whole grid.

    Args:
        warm_start: from `tunegym.metastore.warm_start` (computed for the env's grid, leaving the
            target dataset out).

    Raises:
        ValueError: at ``reset``, when a portfolio entry is not on the env's grid.
    """

    def __init__(self, warm_start: WarmStart) -> None:
        self.warm_start = warm_start

    def _start(self, env: TuningEnv, seed: int) -> None:
        super()._start(env, seed)
        space = self.task.space
        self._queue = [
            _grid_indices(space, entry.lr, entry.batch_size, f"Portfolio entry {n}")
            for n, entry in enumerate(self.warm_start.portfolio)
        ]


class BoxRandomSearch(RandomSearch):
    """Random search restricted to the meta-store's shrunken search box.

    The box (min/max learning rate and batch size over the neighbours' top configurations) cuts
    the env's grid down with `tunegym.metastore.SearchBox.restrict`; random search runs on what
    is left.

    Args:
        warm_start: from `tunegym.metastore.warm_start`; it must have a box.

    Raises:
        ValueError: when ``warm_start.box`` is ``None``, or (at ``reset``) when no grid value
            lies in the box.
    """

    def __init__(self, warm_start: WarmStart) -> None:
        if warm_start.box is None:
            raise ValueError(
                f"The warm start of {warm_start.target!r} has no search box (no neighbour with "
                "curves); use WarmStartRandomSearch or RandomSearch instead."
            )
        self.warm_start = warm_start
        self.box = warm_start.box

    def _start(self, env: TuningEnv, seed: int) -> None:
        super()._start(env, seed)
        space = self.task.space
        lrs, batch_sizes = self.box.restrict(space.lrs, space.batch_sizes)
        if not lrs or not batch_sizes:
            raise ValueError(
                f"The search box {self.box} holds no configuration of the env's grid "
                f"(lrs {space.lrs}, batch sizes {space.batch_sizes})."
            )
        self._lr_choices = np.array([space.lr_index(v) for v in lrs])
        self._bs_choices = np.array([space.batch_size_index(v) for v in batch_sizes])


class GridSearch(JobPolicy):
    """Grid search: one full ``E_max`` trial per grid configuration, then stop.

    Args:
        shuffle: visit the grid in a random order drawn from the episode's seed instead of
            learning-rate-major order (smallest learning rate first, every batch size of it from
            the smallest, then the next learning rate).
    """

    def __init__(self, *, shuffle: bool = False) -> None:
        self.shuffle = shuffle

    def _start(self, env: TuningEnv, seed: int) -> None:
        space = self.task.space
        order = [(i, b) for i in range(len(space.lrs)) for b in range(len(space.batch_sizes))]
        if self.shuffle:
            order = [order[n] for n in self.rng.permutation(len(order))]
        self._order = order
        self._next = 0

    def _next_job(self) -> Job | None:
        if self._next == len(self._order):
            return None
        lr_index, bs_index = self._order[self._next]
        self._next += 1
        return Job(lr_index, bs_index, self.task.space.max_epochs)
