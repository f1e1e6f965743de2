"""Uncertainty and ranks over (task, seed) episodes, as the benchmark protocol v2 asks.

The protocol's seeds are nested in tasks: a tuner's score on a task is the mean of its seeds,
and a suite's score the (weighted) mean over tasks. Resampling episodes as if they were
independent makes intervals 3-5x too narrow (one task's 10 seeds are not 10 tasks); the
hierarchical bootstrap resamples tasks first and seeds within each drawn task.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "critical_difference",
    "family_weights",
    "hierarchical_bootstrap",
    "hierarchical_ratio",
    "mean_ranks",
    "plot_critical_difference",
]


def _check_columns(frame: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"The table lacks the column(s) {missing}; it has {list(frame.columns)}.")


def family_weights(tasks: list[str], family_of: Callable[[str], str]) -> dict[str, float]:
    """Task -> weight with every family weighing the same: 1 / (families × family size).

    Example:
        >>> family_weights(["keel:yeast1", "keel:yeast3", "keel:german"], lambda t: t[5:9])
        {'keel:yeast1': 0.25, 'keel:yeast3': 0.25, 'keel:german': 0.5}
    """
    families = {task: family_of(task) for task in tasks}
    size = pd.Series(families).value_counts()
    return {task: 1.0 / (len(size) * int(size[f])) for task, f in families.items()}


def hierarchical_bootstrap(
    frame: pd.DataFrame,
    value: str,
    *,
    weights: Mapping[str, float] | None = None,
    n: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """The (weighted) mean over tasks of the seed-mean ``value``, and its bootstrap interval.

    Each resample draws as many tasks as there are, with replacement (with probability
    proportional to ``weights`` when given), then, within each drawn task, as many of its seeds
    as it has, with replacement.

    Args:
        frame: one row per episode, with columns ``task``, ``seed`` and ``value``.
        value: the column to summarise (e.g. ``final_regret``).
        weights: task -> weight (e.g. `family_weights`); ``None``: tasks weigh the same.
        n: resamples.
        level: the interval's coverage.
        seed: seeds the resampling.

    Returns:
        ``(mean, low, high)``.

    Raises:
        ValueError: for missing columns, an empty table or a task without a weight.
    """
    _check_columns(frame, ["task", "seed", value])
    point, stats = _resampled_means(frame, [value], weights, n, level, seed)
    tail = (1 - level) / 2
    low, high = np.quantile(stats[:, 0], [tail, 1 - tail])
    return float(point[0]), float(low), float(high)


def hierarchical_ratio(
    frame: pd.DataFrame,
    value: str,
    baseline: str,
    *,
    weights: Mapping[str, float] | None = None,
    n: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """The ratio of two methods' (weighted) means over tasks, with a paired bootstrap interval.

    ``frame`` holds one row per episode with both methods' scores side by side (``value`` and
    ``baseline``, e.g. the agent's and the best peer's final regret on the same task and seed).
    Each resample draws tasks, then seeds within each, as `hierarchical_bootstrap` does, and the
    same episodes for both columns, so the interval reflects how the ratio moves with the tasks
    and seeds drawn, not the two methods' noise twice.

    Returns:
        ``(ratio, low, high)``: mean of ``value`` over mean of ``baseline``.

    Example:
        >>> episodes = pd.DataFrame({"task": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1],
        ...                          "agent": [1.0, 1.0, 2.0, 2.0], "peer": [2.0] * 4})
        >>> hierarchical_ratio(episodes, "agent", "peer", n=200)[0]
        0.75
    """
    _check_columns(frame, ["task", "seed", value, baseline])
    point, stats = _resampled_means(frame, [value, baseline], weights, n, level, seed)
    ratios = stats[:, 0] / np.maximum(stats[:, 1], 1e-12)
    tail = (1 - level) / 2
    low, high = np.quantile(ratios, [tail, 1 - tail])
    return float(point[0] / max(point[1], 1e-12)), float(low), float(high)


def _resampled_means(
    frame: pd.DataFrame,
    values: list[str],
    weights: Mapping[str, float] | None,
    n: int,
    level: float,
    seed: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The weighted means over tasks of the seed-mean ``values`` (one per column), and ``n``
    hierarchical resamples of them (shape ``(n, len(values))``; tasks, then seeds, shared by
    the columns)."""
    if frame.empty:
        raise ValueError("No episodes to summarise.")
    if not 0 < level < 1 or n < 1:
        raise ValueError(f"level must be in (0, 1) and n >= 1, got level={level}, n={n}.")
    groups = [g[values].to_numpy(float) for _, g in frame.groupby("task", sort=True)]
    tasks = sorted(frame["task"].unique())
    if weights is None:
        p = np.full(len(tasks), 1.0 / len(tasks))
    else:
        unknown = [t for t in tasks if t not in weights]
        if unknown:
            raise ValueError(f"No weight for task(s) {unknown[:3]}.")
        p = np.asarray([weights[t] for t in tasks], dtype=float)
        p = p / p.sum()
    point = np.einsum("t,tv->v", p, np.array([g.mean(axis=0) for g in groups]))
    rng = np.random.default_rng(seed)
    stats = np.empty((n, len(values)))
    for b in range(n):
        drawn = rng.choice(len(tasks), size=len(tasks), p=p)
        means = [groups[t][rng.integers(len(groups[t]), size=len(groups[t]))].mean(axis=0)
                 for t in drawn]  # fmt: skip
        stats[b] = np.mean(means, axis=0)
    return point, stats


def paired_worse(
    values: npt.ArrayLike,
    baseline: npt.ArrayLike,
    *,
    n: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, bool]:
    """Whether ``values`` are worse (higher: a regret) than ``baseline`` beyond seed noise.

    The two are paired by seed: element ``s`` of each comes from episode seed ``s``. Each
    resample draws as many seeds as there are, with replacement, the same ones for both, and
    takes the mean difference. Worse means the interval's lower bound (one-sided, coverage
    ``level``) is above 0; a tuner against itself on fresh seeds is called worse on about
    ``1 - level`` of tasks, where the strict reading (a higher mean by any amount) calls it
    worse on a share that only ties keep below one half.

    Returns:
        ``(mean difference, lower bound, worse)``.

    Raises:
        ValueError: arrays of unequal length, or empty ones.
    """
    a, b = np.asarray(values, dtype=float), np.asarray(baseline, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(
            f"Paired values need two 1-D arrays of the same non-zero length, got shapes "
            f"{a.shape} and {b.shape}."
        )
    if not 0 < level < 1 or n < 1:
        raise ValueError(f"level must be in (0, 1) and n >= 1, got level={level}, n={n}.")
    diff = a - b
    drawn = np.random.default_rng(seed).integers(diff.size, size=(n, diff.size))
    low = float(np.quantile(diff[drawn].mean(axis=1), 1 - level))
    return float(diff.mean()), low, low > 0


def mean_ranks(frame: pd.DataFrame, value: str, *, lower_is_better: bool = True) -> pd.Series:
    """Each method's mean rank over the (task, seed) episodes all methods ran (1 = best).

    Ties share the mean of their ranks. Episodes that some method lacks are left out, so every
    method is ranked on the same episodes.

    Args:
        frame: one row per episode, with columns ``method``, ``task``, ``seed`` and ``value``.
        value: the score to rank on (regret: lower is better).
        lower_is_better: rank ascending (``False`` for accuracies).

    Example:
        >>> episodes = pd.DataFrame({"method": ["a", "b", "a", "b"], "task": ["t"] * 4,
        ...                          "seed": [0, 0, 1, 1], "regret": [0.1, 0.2, 0.3, 0.3]})
        >>> mean_ranks(episodes, "regret").to_dict()
        {'a': 1.25, 'b': 1.75}
    """
    _check_columns(frame, ["method", "task", "seed", value])
    wide = frame.pivot_table(index=["task", "seed"], columns="method", values=value).dropna()
    if wide.empty:
        raise ValueError("No (task, seed) episode was run by every method.")
    ranks = wide.rank(axis=1, ascending=lower_is_better, method="average")
    return ranks.mean().sort_values().rename("mean_rank")


def critical_difference(n_methods: int, n_blocks: int, alpha: float = 0.05) -> float:
    """The Nemenyi critical difference of mean ranks (Demšar 2006).

    Two methods whose mean ranks over ``n_blocks`` blocks (tasks, or task-seed episodes)
    differ by more than it differ at level ``alpha``: ``q_alpha * sqrt(k (k + 1) / (6 N))``,
    with ``q_alpha`` the studentized range quantile over ``sqrt(2)``.

    Example:
        >>> round(critical_difference(4, 30), 3)  # Demsar's table: q_0.05 = 2.569 for k = 4
        0.856
    """
    if n_methods < 2 or n_blocks < 1:
        raise ValueError(f"Need >= 2 methods and >= 1 block, got {n_methods} and {n_blocks}.")
    from scipy.stats import studentized_range

    q = float(studentized_range.ppf(1 - alpha, n_methods, np.inf)) / math.sqrt(2)
    return q * math.sqrt(n_methods * (n_methods + 1) / (6.0 * n_blocks))


def plot_critical_difference(
    ranks: pd.Series, cd: float, path: str | Path, *, title: str = ""
) -> None:
    """Demšar's diagram: methods on a mean-rank axis, cliques closer than ``cd`` joined by bars.

    Args:
        ranks: method -> mean rank (from `mean_ranks`).
        cd: the critical difference (from `critical_difference`).
        path: the PNG to write.
        title: a title (e.g. the suite and the budget).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ranks = ranks.sort_values()
    k = len(ranks)
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.28 * k))
    low, high = 1, max(k, math.ceil(float(ranks.max())))
    ax.set_xlim(low - 0.3, high + 0.3)
    ax.set_ylim(0, k + 2)
    ax.axhline(k + 1, color="black", lw=1)
    for r in range(low, high + 1):
        ax.plot([r, r], [k + 1, k + 1.15], color="black", lw=1)
        ax.text(r, k + 1.3, str(r), ha="center", fontsize=8)
    ax.plot([low, low + cd], [k + 1.7, k + 1.7], color="firebrick", lw=2)
    ax.text(low + cd / 2, k + 1.8, f"CD = {cd:.2f}", ha="center", fontsize=8, color="firebrick")
    for i, (method, rank) in enumerate(ranks.items()):
        y = k - i
        ax.plot([rank, rank], [y, k + 1], color="grey", lw=0.6)
        ax.text(rank, y - 0.1, f"{method} ({rank:.2f})", ha="center", va="top", fontsize=8)
    values = ranks.to_numpy()
    cliques: list[tuple[int, int]] = []
    for i in range(k):
        j = int(np.searchsorted(values, values[i] + cd, side="right")) - 1
        if j > i and not any(a <= i and j <= b for a, b in cliques):
            cliques.append((i, j))
    for n_clique, (i, j) in enumerate(cliques):
        bar = k + 0.7 - 0.18 * n_clique
        ax.plot([values[i] - 0.03, values[j] + 0.03], [bar, bar], color="black", lw=3)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
