"""A small hand-made pool shared by the peers' tests, and an episode that records requests."""

from __future__ import annotations

import contextlib

import numpy as np

from tunegym.bench._episode import Episode, Peer
from tunegym.bench._ledger import BudgetSpent, Ledger
from tunegym.envs._pool import CurvePool
from tunegym.space import Categorical, Float, Int, Space

EPOCHS = 9
BUDGET = 60

SPACE = Space(
    (
        Float("lr", 1e-4, 1e-1, log=True),
        Int("units", 16, 256, log=True),
        Categorical("activation", ("relu", "tanh")),
    )
)


def make_pool(n: int = 30, seeds: int = 2) -> CurvePool:
    """Saturating curves: the final score peaks at a middling learning rate, wide nets learn
    faster, each seed adds a little noise."""
    configs = SPACE.sample(n, seed=0)
    unit = SPACE.to_unit_many(configs)
    final = 0.9 - 0.5 * (unit[:, 0] - 0.6) ** 2 - 0.1 * unit[:, 2]
    rate = 0.2 + 1.5 * unit[:, 1]
    epochs = np.arange(1, EPOCHS + 1)
    noise = 0.01 * np.random.default_rng(0).standard_normal((n, seeds, EPOCHS))
    val = final[:, None, None] * (1 - np.exp(-rate[:, None, None] * epochs)) + noise
    return CurvePool("toy", "toy", "meta-test", SPACE, tuple(configs), val, val - 0.01,
                     np.ones_like(val))  # fmt: skip


POOL = make_pool()


class RecordingLedger(Ledger):
    """A ledger that notes every request (configuration, epoch)."""

    def __init__(self, pool: CurvePool, budget: int, seed: int) -> None:
        super().__init__(pool, budget, seed)
        self.requests: list[tuple[int, int]] = []

    def train(self, config: int, to_epoch: int) -> float:
        self.requests.append((config, to_epoch))
        return super().train(config, to_epoch)


def run(
    peer: Peer, seed: int = 0, portfolio: tuple[int, ...] = (), *, pool: CurvePool = POOL,
    budget: int = BUDGET,
) -> RecordingLedger:  # fmt: skip
    """One episode of ``peer``; its ledger."""
    ledger = RecordingLedger(pool, budget=budget, seed=0)
    with contextlib.suppress(BudgetSpent):
        peer(Episode(ledger, seed=seed, portfolio=portfolio))
    return ledger
