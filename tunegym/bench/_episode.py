"""What a peer gets for one episode: the ledger, its own seed and the warm start's portfolio."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tunegym.bench._ledger import Ledger
from tunegym.envs._pool import CurvePool, greedy_portfolio, normalised_finals

__all__ = ["STALL_TRIALS", "Episode", "Peer", "portfolio"]

STALL_TRIALS = 50
"""A library peer returns once this many trials in a row charged no epoch: on a pool whose
configurations have all been tried, a library may go on proposing points whose configurations
are already trained as far as it takes them (each new point maps to the nearest untried
configuration while there is one, so on LCBench's 2,000 this does not happen)."""


@dataclass(frozen=True)
class Episode:
    """One tuner run on one task.

    A peer is a function ``peer(episode) -> None`` that trains configurations through
    ``episode.ledger`` until the ledger raises `BudgetSpent` (the harness catches it) or the peer
    has nothing left to try.

    Attributes:
        ledger: trains the pool's configurations, charging new epochs only.
        seed: the tuner's own seed, drawn per (task, seed) episode.
        portfolio: warm-start configurations (pool indices), the best meta-train default
            first; empty for a cold start.
        eta: the halving rate of the multi-fidelity peers.
        prior: ``[n]`` the warm start's predicted normalised final score of each configuration
            (`tunegym.envs.config_prior` over the meta-train tasks); ``None`` for a cold start.
        warm_tasks: the meta-train tasks the warm start comes from (empty for a cold start), for
            a peer that re-weights them as the episode's scores come in (the freeze-thaw agent's
            `tunegym.envs.RankWeightedPrior`).
    """

    ledger: Ledger
    seed: int
    portfolio: tuple[int, ...] = ()
    eta: int = 3
    prior: np.ndarray | None = None
    warm_tasks: tuple[CurvePool, ...] = ()
    _mapped: dict[tuple[Any, ...], int] = field(default_factory=dict, repr=False, compare=False)

    @property
    def pool(self) -> CurvePool:
        """The task."""
        return self.ledger.pool

    @property
    def max_epochs(self) -> int:
        """The most epochs one trial trains."""
        return self.ledger.pool.max_epochs

    def rng(self) -> np.random.Generator:
        """A generator seeded with the tuner's seed."""
        return np.random.default_rng(self.seed)

    def index_of(self, config: dict[str, Any]) -> int:
        """The pool configuration that a point of the space proposed by a library stands for.

        A point seen before maps where it did (a promotion continues its trial). A new point is
        a new trial, as it would be in the continuous space: it maps to the nearest
        configuration that has not trained yet (the nearest of all once every one has), so a
        library cannot re-train a known configuration for free by proposing a point near it.
        """
        pool = self.ledger.pool
        key = pool.space.key(config)
        if key not in self._mapped:
            taken = self.ledger.trained > 0
            taken[list(self._mapped.values())] = True
            index = pool.nearest(config, exclude=taken if not taken.all() else None)
            self._mapped[key] = index
            self._mapped.setdefault(pool.space.key(pool.configs[index]), index)  # its own values
        return self._mapped[key]

    def portfolio_configs(self) -> list[dict[str, Any]]:
        """The portfolio as configurations (for libraries that take initial points)."""
        return [dict(self.ledger.pool.configs[i]) for i in self.portfolio]


Peer = Callable[[Episode], None]
"""A tuner adapted to the benchmark: trains through ``episode.ledger`` until the budget ends."""


def portfolio(pools: Sequence[CurvePool], k: int = 8) -> tuple[int, ...]:
    """A greedy portfolio of ``k`` configurations over ``pools`` (Feurer et al., 2015).

    Each task's seed-mean final scores are normalised to [0, 1]; the first pick is the
    configuration with the best mean (the best meta-train default), each next one adds most to
    the mean over tasks of the best normalised score among the picks.

    Raises:
        ValueError: no pools, or pools of different configurations.
    """
    if not pools:
        raise ValueError("A portfolio needs at least one meta-train task.")
    first = pools[0]
    if any(p.n != first.n or p.configs != first.configs for p in pools[1:]):
        raise ValueError(
            "The meta-train tasks hold different configurations; a portfolio of pool indices "
            "needs one set of configurations on every task."
        )
    return tuple(greedy_portfolio(normalised_finals(pools), k))
