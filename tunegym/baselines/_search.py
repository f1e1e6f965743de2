"""Full-trial searches: random, grid, and the two warm-started variants of random search.

Each trial is one job of ``E_max`` epochs (see `tunegym.baselines.JobPolicy` for how a job
becomes actions): ``k = E_max`` when that increment exists and fits the budget, otherwise the
largest valid ``k``, continuing the same trial until ``E_max``. When the budget left cannot fund a
full trial the last one is partial: it trains as many epochs as remain.

All four work on any `tunegym.envs.SearchSpace`. On the lr × batch-size grid they draw grid
indices exactly as they always did (so episodes are unchanged); off the grid they draw candidate
indices, and the warm-started ones read the warm start against the candidates (`_warm`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tunegym.baselines._jobs import Job, JobPolicy
from tunegym.baselines._warm import box_candidates, portfolio_candidates
from tunegym.envs import SearchSpace, TuningEnv

if TYPE_CHECKING:
    from tunegym.metastore import WarmStart

__all__ = ["BoxRandomSearch", "GridSearch", "RandomSearch", "WarmStartRandomSearch"]


def _axes(space: SearchSpace) -> tuple[int, ...]:
    """The shape candidate indices unravel to: (lrs, batch sizes) on the grid, else (n,)."""
    return (len(space.lrs), len(space.batch_sizes)) if space.is_grid else (space.n_configs,)


class RandomSearch(JobPolicy):
    """Random search: full ``E_max`` trials of candidate configurations drawn uniformly.

    On the grid, learning rate and batch size are drawn independently and uniformly from the
    grid (the learning rate first), with replacement (Bergstra & Bengio's random search on a
    grid); off the grid, a candidate is drawn uniformly, with replacement. A repeated
    configuration is a new trial with another trial seed; a configuration that has had every
    trial seed is drawn again (the env masks it), and the search stops when every candidate it
    draws from has.
    """

    def _start(self, env: TuningEnv, seed: int) -> None:
        self._shape = _axes(self.task.space)
        # Per axis, the indices drawn from: every one, or those a warm start's box keeps.
        self._choices: tuple[np.ndarray, ...] = tuple(np.arange(n) for n in self._shape)
        self._queue: list[int] = []  # candidates to try before random ones

    def _draw(self) -> int:
        """One index per axis (grid: lr, then batch size), as a candidate index."""
        indices = tuple(int(self.rng.choice(choices)) for choices in self._choices)
        return int(np.ravel_multi_index(indices, self._shape))

    def _next_job(self) -> Job | None:
        if self._queue:
            return Job(self._queue.pop(0), self.task.space.max_epochs)
        startable = self._startable()
        drawable = np.ix_(*self._choices)  # every candidate the draws can reach, on its axes
        if not startable.reshape(self._shape)[drawable].any():
            return None  # every candidate it draws from has had all its trial seeds
        config = self._draw()
        while not startable[config]:
            config = self._draw()
        return Job(config, self.task.space.max_epochs)


def _grid_config(space: SearchSpace, lr: float, batch_size: int, what: str) -> int:
    try:
        return space.lr_index(lr) * len(space.batch_sizes) + space.batch_size_index(batch_size)
    except ValueError as error:
        raise ValueError(
            f"{what} (lr={lr!r}, batch_size={batch_size!r}) is not on the env's grid: {error} "
            "Compute the warm start for the env's grid (warm_start(store, target, space.lrs, "
            "space.batch_sizes))."
        ) from None


class WarmStartRandomSearch(RandomSearch):
    """Random search that first tries the meta-store's portfolio, in its order.

    Every portfolio entry is a full ``E_max`` trial (the epoch at which it peaked on the
    neighbour is not used); then random search goes on over every candidate. Off the grid, the
    entries that are candidates are tried (see ``_warm``: an lr × batch-size entry is a
    configuration only of a space of those two hyperparameters).

    Args:
        warm_start: from `tunegym.metastore.warm_start` (computed for the env's grid, leaving the
            target dataset out).

    Raises:
        ValueError: at ``reset``: on the grid, when a portfolio entry is not on it; off the grid,
            when no portfolio entry is a candidate (the warm start cannot apply).
    """

    def __init__(self, warm_start: WarmStart) -> None:
        self.warm_start = warm_start

    def _start(self, env: TuningEnv, seed: int) -> None:
        super()._start(env, seed)
        space = self.task.space
        if not space.is_grid:
            self._queue = portfolio_candidates(self.warm_start, space)
            return
        self._queue = [
            _grid_config(space, entry.lr, entry.batch_size, f"Portfolio entry {n}")
            for n, entry in enumerate(self.warm_start.portfolio)
        ]


class BoxRandomSearch(RandomSearch):
    """Random search restricted to the meta-store's shrunken search box.

    The box (min/max learning rate and batch size over the neighbours' top configurations) cuts
    the env's grid down with `tunegym.metastore.SearchBox.restrict`; random search runs on what
    is left. Off the grid it keeps the candidates whose learning rate (``lr`` or
    ``learning_rate``) and ``batch_size`` lie in the box, and draws among them uniformly.

    Args:
        warm_start: from `tunegym.metastore.warm_start`; it must have a box.

    Raises:
        ValueError: when ``warm_start.box`` is ``None``, or (at ``reset``) when no grid value
            (no candidate) lies in the box, or the space has no learning rate or batch size.
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
        if not space.is_grid:
            self._choices = (box_candidates(self.box, space),)
            return
        lrs, batch_sizes = self.box.restrict(space.lrs, space.batch_sizes)
        if not lrs or not batch_sizes:
            raise ValueError(
                f"The search box {self.box} holds no configuration of the env's grid "
                f"(lrs {space.lrs}, batch sizes {space.batch_sizes})."
            )
        self._choices = (
            np.array([space.lr_index(v) for v in lrs]),
            np.array([space.batch_size_index(v) for v in batch_sizes]),
        )


class GridSearch(JobPolicy):
    """Grid search: one full ``E_max`` trial per candidate configuration, then stop.

    Candidates are visited in action order: on the grid learning-rate-major (smallest learning
    rate first, every batch size of it from the smallest, then the next learning rate); off the
    grid the search's own order (`tunegym.envs.SearchSpace.candidates`).

    Args:
        shuffle: visit the candidates in a random order drawn from the episode's seed instead.
    """

    def __init__(self, *, shuffle: bool = False) -> None:
        self.shuffle = shuffle

    def _start(self, env: TuningEnv, seed: int) -> None:
        n = self.task.space.n_configs
        order = list(range(n))
        if self.shuffle:
            order = [order[i] for i in self.rng.permutation(n)]
        self._order = order
        self._next = 0

    def _next_job(self) -> Job | None:
        if self._next == len(self._order):
            return None
        config = self._order[self._next]
        self._next += 1
        return Job(config, self.task.space.max_epochs)
