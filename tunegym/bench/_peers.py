"""The peers with no library of their own: random search, Hyperband, one-epoch screening, the fixed
script and the oracle, written for the ledger (each charges only new epochs)."""

from __future__ import annotations

import math

import numpy as np

from tunegym.bench._episode import Episode

__all__ = ["fixed_script", "hyperband", "one_epoch_top_k", "oracle", "random_search"]


def _fresh(ep: Episode, rng: np.random.Generator) -> list[int]:
    """The pool's untried configurations in a random order, the portfolio's first."""
    untried = np.flatnonzero(ep.ledger.trained == 0)
    order = [int(i) for i in rng.permutation(untried)]
    first = [i for i in ep.portfolio if ep.ledger.trained[i] == 0]
    return first + [i for i in order if i not in set(first)]


def random_search(ep: Episode) -> None:
    """Random search (Bergstra & Bengio, 2012): configurations drawn without replacement, each
    trained to the last epoch."""
    for i in _fresh(ep, ep.rng()):
        ep.ledger.train(i, ep.max_epochs)


def hyperband(ep: Episode) -> None:
    """Hyperband (Li et al., 2018) over the pool, brackets repeated until the budget ends.

    Minimum 1 epoch, maximum the curves' length, halving rate ``ep.eta``; a promoted
    configuration continues from its epochs (charged only for the new ones). Bracket ``s`` starts
    ``ceil((s_max + 1) / (s + 1) * eta**s)`` configurations at ``max / eta**s`` epochs. With a
    portfolio, its configurations open the first brackets (the warm-started variant).
    """
    rng = ep.rng()
    eta, top = ep.eta, ep.max_epochs
    s_max = math.floor(math.log(top) / math.log(eta) + 1e-9)
    queue = _fresh(ep, rng)
    while queue:
        for s in range(s_max, -1, -1):
            n = math.ceil((s_max + 1) / (s + 1) * eta**s)
            rung, queue = queue[:n], queue[n:]
            if not rung:
                return
            epochs = top / eta**s
            for _ in range(s + 1):
                target = max(1, round(epochs))
                scores = [ep.ledger.train(i, target) for i in rung]
                keep = max(1, len(rung) // eta)
                rung = [rung[j] for j in np.argsort(scores, kind="stable")[::-1][:keep]]
                epochs *= eta


def one_epoch_top_k(ep: Episode) -> None:
    """ "Top-K after one epoch" (Egele et al., 2023): screen configurations for one epoch, then
    train the best to the end.

    Half the budget screens ``budget / 2`` configurations (at most the pool); the other half
    trains the best of them, in order of their first-epoch score, to the last epoch.
    """
    screened = _fresh(ep, ep.rng())[: max(1, min(ep.pool.n, ep.ledger.budget // 2))]
    scores = [ep.ledger.train(i, 1) for i in screened]
    for j in np.argsort(scores, kind="stable")[::-1]:
        ep.ledger.train(screened[int(j)], ep.max_epochs)


def fixed_script(ep: Episode) -> None:
    """The fixed script: the best meta-train default, then the rest of the warm-start portfolio,
    each to the last epoch; then random search. Without a portfolio it is random search."""
    random_search(ep)


def oracle(ep: Episode) -> None:
    """The limit: one full trial of the configuration whose trial has the lowest expected
    regret (`CurvePool.oracle`)."""
    ep.ledger.train(ep.pool.oracle(), ep.max_epochs)
