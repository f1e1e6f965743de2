"""`RankWeightedPrior`: the warm start's prior, re-weighted as the task's curves come in.

The static prior (`tunegym.envs.config_prior`) is a configuration's normalised final score
averaged over the meta-train tasks, every task alike. A task unlike the average (LCBench's
meta-val holds several) is then led to the configurations that are good elsewhere and not
here. This prior learns which meta-train tasks the current one resembles from what it has seen,
as RGPE does for Bayesian optimisation (Feurer, Letham and Bakshy, 2018): a meta-train task is
weighted by how few pairs of the started candidates it ranks otherwise than the current task
did (each candidate read at the epoch it has reached, on the task's curve at that epoch), and
the prior is the weighted mean of the tasks' normalised final scores.

Before any curve is seen, the tasks may start unequal: weighted by how like the current task's
their meta-features are (`meta_log_weights`), the warm start by meta-features. With ``beta = 0``
(or fewer than two started candidates) it is that starting prior. It reads only the scores the
env has seen and the task's meta-features, never the current task's truth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from tunegym.envs._pool import CurvePool
    from tunegym.space import Space

__all__ = [
    "DEFAULT_BETA",
    "META_GAMMA",
    "RankWeightedPrior",
    "aligned_indices",
    "meta_log_weights",
    "pool_indices",
]

DEFAULT_BETA = 0.3
"""How much one mis-ranked pair lowers a task's log-weight. Chosen on LCBench's meta-val at
1000 epochs with the curve race on 256 candidates (half of them the prior's best): final regret
0.0045 against 0.0197 for the static prior on random candidates, 5 seeds; beta 1 was no better."""

META_GAMMA = 20.0
"""How fast a meta-train task's starting log-weight falls with its meta-features' squared
distance to the current task's (`meta_log_weights`). Chosen on meta-val with the curve race
(10 seeds, 256 candidates): LCBench's area at 1000 epochs 0.0210 with no meta-features, 0.0206
at 5, 0.0198 at 10, 0.0197 at 20 and 50, 0.0200 at 100; LCBench at 200 epochs and meta-dataset
v2 did not move (``python experiments/lcbench_meta_features.py --gammas 0 5 10 20 50 100``)."""


def meta_log_weights(
    target: npt.ArrayLike | None,
    tasks: Sequence[npt.ArrayLike | None],
    gamma: float = META_GAMMA,
) -> npt.NDArray[np.float64] | None:
    """Starting log-weights of meta-train tasks from their meta-features: ``-gamma`` times the
    squared distance to ``target``'s (a kernel on dataset similarity, as warm starts by
    meta-features do; Feurer et al., 2015). A task of unknown meta-features gets the mean
    distance. ``None`` (every task alike) without the target's, or with no task's."""
    if target is None or gamma == 0:
        return None
    t = np.asarray(target, dtype=np.float64)
    if not t.any():
        return None  # zeros: unknown
    dist = np.array([np.nan if m is None or not np.asarray(m).any()
                     else float(((np.asarray(m, dtype=np.float64) - t) ** 2).sum())
                     for m in tasks])  # fmt: skip
    if np.isnan(dist).all():
        return None
    dist = np.where(np.isnan(dist), np.nanmean(dist), dist)
    return -gamma * (dist - dist.min())


MAX_PAIRS_ROWS = 64
"""At most this many started candidates (the best ones seen) are ranked against each task,
so that a step's update stays within a millisecond when hundreds have started."""


def pool_indices(
    pool: CurvePool, configs: Sequence[Mapping[str, Any]], target: npt.NDArray[np.float64]
) -> npt.NDArray[np.intp]:
    """Each of ``configs``' index in ``pool``: itself when the pool recorded it, else the pool's
    nearest configuration in the unit cube (``target`` is ``configs`` there)."""
    if len(configs) == pool.n and tuple(configs) == pool.configs:
        return np.arange(pool.n)
    index = {pool.space.key(c): i for i, c in enumerate(pool.configs)}
    found = [index.get(pool.space.key(c), -1) for c in configs]
    out = np.asarray(found, dtype=np.intp)
    if (missing := out < 0).any():
        d = ((target[missing][:, None, :] - pool._unit[None, :, :]) ** 2).sum(axis=2)
        out[missing] = np.argmin(d, axis=1)
    return out


def aligned_indices(
    train: Sequence[CurvePool], configs: Sequence[Mapping[str, Any]], space: Space
) -> list[npt.NDArray[np.intp]]:
    """For each of the meta-train tasks ``train``, ``configs``' indices in it (`pool_indices`).

    Raises:
        ValueError: no meta-train task.
    """
    if not train:
        raise ValueError("A prior needs at least one meta-train task.")
    target = space.to_unit_many(configs)
    out: list[npt.NDArray[np.intp]] = []
    searched: list[tuple[tuple[dict[str, Any], ...], npt.NDArray[np.intp]]] = []
    for pool in train:
        # Tasks of one sample of configurations (LCBench's, the meta-dataset's) share one search.
        at = next((i for c, i in searched if c == pool.configs), None)
        if at is None:
            at = pool_indices(pool, configs, target)
            searched.append((pool.configs, at))
        out.append(at)
    return out


class RankWeightedPrior:
    """Meta-train tasks' curves at an episode's candidates, weighted by how they rank its scores.

    Args:
        curves: ``[T, N, E]`` each meta-train task's seed-mean validation curve of each
            candidate (at the task's nearest configuration).
        finals: ``[T, N]`` each task's normalised final score of each candidate (scaled to [0, 1]
            over all the task's configurations, as `config_prior` does).
        beta: log-weight lost per mis-ranked pair (0: the static prior).
        log_weights: ``[T]`` the tasks' starting log-weights (`meta_log_weights`: by how like
            the current task's its meta-features are); default every task alike.

    Example:
        >>> prior = RankWeightedPrior.from_pools(train_pools, candidates, space)
        >>> prior.predict(epochs, scores)  # [N] in [0, 1]
    """

    def __init__(
        self,
        curves: npt.ArrayLike,
        finals: npt.ArrayLike,
        *,
        beta: float = DEFAULT_BETA,
        log_weights: npt.ArrayLike | None = None,
    ) -> None:
        c = np.asarray(curves, dtype=np.float64)
        f = np.asarray(finals, dtype=np.float64)
        if c.ndim != 3 or f.shape != c.shape[:2] or c.shape[0] < 1:
            raise ValueError(
                f"curves must be [tasks, candidates, epochs] and finals [tasks, candidates], got "
                f"{c.shape} and {f.shape}."
            )
        if not (np.isfinite(c).all() and np.isfinite(f).all()):
            raise ValueError("curves and finals must be finite.")
        if not beta >= 0 or not np.isfinite(beta):
            raise ValueError(f"beta must be a finite value >= 0, got {beta!r}.")
        base = np.zeros(c.shape[0]) if log_weights is None else np.asarray(log_weights, float)
        if base.shape != (c.shape[0],) or not np.isfinite(base).all():
            raise ValueError(f"log_weights must hold {c.shape[0]} finite values (one per task).")
        self.curves, self.finals, self.beta = c, np.clip(f, 0.0, 1.0), float(beta)
        self.base = base - base.max()
        self.weights = self._softmax(self.base)
        static = self.finals.mean(axis=0) if log_weights is None else self.weights @ self.finals
        self.static = static.astype(np.float32)
        self._scaled: dict[int, npt.NDArray[np.float64]] = {}  # at_epoch's tasks' scaled scores

    @staticmethod
    def _softmax(logw: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        w = np.exp(logw - logw.max())
        return np.asarray(w / w.sum())

    @classmethod
    def from_pools(
        cls,
        train: Sequence[CurvePool],
        configs: Sequence[Mapping[str, Any]],
        space: Space,
        *,
        beta: float = DEFAULT_BETA,
        log_weights: npt.ArrayLike | None = None,
    ) -> RankWeightedPrior:
        """The prior of ``configs`` from the meta-train tasks ``train`` (nearest configurations
        where a task did not record one); ``log_weights`` as the constructor's.

        Raises:
            ValueError: no meta-train task.
        """
        from tunegym.envs._pool import finals_at

        at = aligned_indices(train, configs, space)
        finals = finals_at(train, at)
        e = min(p.max_epochs for p in train)  # one length for every task
        curves = np.stack([p.truth[i, :e] for p, i in zip(train, at, strict=True)])
        return cls(curves, finals, beta=beta, log_weights=log_weights)

    @property
    def n(self) -> int:
        """Candidates."""
        return int(self.finals.shape[1])

    def at_epoch(self, epoch: int) -> npt.NDArray[np.float32]:
        """``[N]`` the candidates' score at ``epoch`` (clipped to the curves' length) as the
        weighted meta-train tasks saw it, each task's scaled to [0, 1] over the candidates: which
        candidate the similar tasks show ahead after a short look (the prior reads the end)."""
        if isinstance(epoch, bool) or not isinstance(epoch, int | np.integer) or epoch < 1:
            raise ValueError(f"epoch must be an int >= 1, got {epoch!r}.")
        e = min(int(epoch), self.curves.shape[2]) - 1
        scaled = self._scaled.get(e)
        if scaled is None:
            at = self.curves[:, :, e]  # [T, N]
            low, high = at.min(axis=1, keepdims=True), at.max(axis=1, keepdims=True)
            scaled = self._scaled[e] = (at - low) / np.maximum(high - low, 1e-12)
        return (self.weights @ scaled).astype(np.float32)

    def predict(self, epochs: npt.ArrayLike, scores: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """``[N]`` the prior after the candidates reached ``epochs`` (``[N]``, 0: not started)
        with these last ``scores`` (``[N]``, read where ``epochs > 0``); updates ``weights``."""
        e = np.asarray(epochs, dtype=np.int64)
        y = np.asarray(scores, dtype=np.float64)
        seen = np.flatnonzero(e > 0)
        if self.beta == 0 or len(seen) < 2:
            self.weights = self._softmax(self.base)
            return self.static
        if len(seen) > MAX_PAIRS_ROWS:
            seen = seen[np.argsort(-y[seen], kind="stable")[:MAX_PAIRS_ROWS]]
        at = np.minimum(e[seen], self.curves.shape[2]) - 1
        here = np.sign(y[seen][:, None] - y[seen][None, :])
        there = self.curves[:, seen, at]  # [T, m]
        there = np.sign(there[:, :, None] - there[:, None, :])
        wrong = ((here[None] * there) < 0).sum(axis=(1, 2)) / 2.0
        self.weights = self._softmax(self.base - self.beta * (wrong - wrong.min()))
        return (self.weights @ self.finals).astype(np.float32)
