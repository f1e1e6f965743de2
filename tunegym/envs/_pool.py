"""A benchmark task as a finite pool of configurations with known curves (protocol v2's suites).

Every suite reduces to the same shape, the one the multi-fidelity papers use on LCBench's tables:
a task is a fixed set of configurations, each with its validation and test curves per seed and the
seconds of each epoch. A tuner picks configurations (or proposes points of the space, which go to
the nearest configuration of the pool), the harness reads the curves.

* ``lcbench``: the same Sobol sample of LCBench's space on each of the surrogate's 34 tasks
  (2,000 configurations, like LCBench's own tables), one deterministic curve each;
* ``own`` / a curve table: the configurations a table recorded, every seed it recorded.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from tunegym.envs._backends import Segment
from tunegym.envs._prior import aligned_indices
from tunegym.space import Space

__all__ = [
    "CurvePool",
    "PoolBackend",
    "config_prior",
    "finals_at",
    "greedy_portfolio",
    "lcbench_pools",
    "load_suite",
    "nested_portfolio",
    "normalised_finals",
    "snapshot_meta_features",
    "table_pools",
]

_TEST_FOR = {"val_accuracy": "test_accuracy", "val_balanced_accuracy": "test_balanced_accuracy"}


@dataclass(frozen=True, eq=False)
class CurvePool:
    """One task of a suite: ``n`` configurations, ``S`` seeds, ``E`` epochs of curves.

    Attributes:
        task: the task's name (``lcbench:adult``, ``keel:letter``).
        family: its family (tasks of one family count once in family-weighted means).
        part: its part of the suite's split (``meta-train``, ``meta-val``, ``meta-test``).
        space: the hyperparameters.
        configs: the configurations, in the order of the arrays' first axis.
        val: ``[n, S, E]`` validation score (larger is better) per seed and epoch.
        test: ``[n, S, E]`` test score of the same runs.
        seconds: ``[n, S, E]`` training seconds of each epoch.
        metric: the validation metric's name.
    """

    task: str
    family: str
    part: str
    space: Space
    configs: tuple[dict[str, Any], ...]
    val: npt.NDArray[np.float64]
    test: npt.NDArray[np.float64]
    seconds: npt.NDArray[np.float64]
    metric: str = "val_accuracy"
    _unit: npt.NDArray[np.float64] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        shape = self.val.shape
        if len(shape) != 3 or self.test.shape != shape or self.seconds.shape != shape:
            raise ValueError(
                f"{self.task}: val, test and seconds must be [configs, seeds, epochs] of one "
                f"shape, got {self.val.shape}, {self.test.shape}, {self.seconds.shape}."
            )
        if shape[0] != len(self.configs) or shape[0] < 2:
            raise ValueError(
                f"{self.task}: {len(self.configs)} configurations for {shape[0]} curves; a pool "
                "needs at least 2 configurations, one curve set each."
            )
        if not np.isfinite(self.val).all():
            raise ValueError(f"{self.task}: the validation curves hold NaN or inf.")
        object.__setattr__(self, "_unit", self.space.to_unit_many(self.configs))

    @property
    def n(self) -> int:
        """How many configurations."""
        return int(self.val.shape[0])

    @property
    def n_seeds(self) -> int:
        """How many seeds each configuration was recorded with."""
        return int(self.val.shape[1])

    @property
    def max_epochs(self) -> int:
        """The curves' length (the most epochs one trial trains)."""
        return int(self.val.shape[2])

    @cached_property
    def truth(self) -> npt.NDArray[np.float64]:
        """``[n, E]`` the seed-mean validation curves: what an incumbent is worth (protocol v2)."""
        return np.asarray(self.val.mean(axis=1))

    @cached_property
    def bounds(self) -> tuple[float, float]:
        """(best, worst) of the seed-mean curves over every configuration and epoch."""
        return float(self.truth.max()), float(self.truth.min())

    def regret(self, truth: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Normalised regret ``(best - truth) / (best - worst)`` of seed-mean scores."""
        best, worst = self.bounds
        return (best - np.asarray(truth, dtype=np.float64)) / max(best - worst, 1e-12)

    def nearest(
        self, config: Mapping[str, Any], exclude: npt.NDArray[np.bool_] | None = None
    ) -> int:
        """The index of the pool's configuration nearest ``config`` in the unit cube.

        Args:
            config: a point of the space.
            exclude: ``[n]`` configurations not to consider (``True``: left out).
        """
        distance = ((self._unit - self.space.to_unit(config)) ** 2).sum(axis=1)
        if exclude is not None:
            distance = np.where(exclude, np.inf, distance)
        return int(np.argmin(distance))

    def trial_regret(self) -> npt.NDArray[np.float64]:
        """``[n]`` each configuration's expected regret after one full trial alone: its
        incumbent is the first epoch that reaches the trial's best validation score (as the
        benchmark's ledger keeps it), worth the seed-mean score there, averaged over the seed
        the trial draws."""
        val = np.where(np.isnan(self.val), -np.inf, self.val)
        first_best = np.argmax(val, axis=2)  # [n, S]: argmax keeps the first of equal scores
        worth = np.take_along_axis(self.truth, first_best, axis=1)
        return np.asarray(self.regret(worth).mean(axis=1))

    def oracle(self) -> int:
        """The configuration whose one full trial has the lowest expected regret
        (`trial_regret`); ties: the best seed-mean final score, then the first.

        Where validation saturates, many configurations share the best final score; the
        best final score alone would pick among them by index, though a trial whose validation
        peaks early on one seed is worth less.
        """
        final = self.truth[:, -1]
        return int(np.lexsort((-final, self.trial_regret()))[0])  # a stable sort: then the first


# --- LCBench -------------------------------------------------------------------------------


def _cache_dir() -> Path:
    root = os.environ.get("TUNEGYM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tunegym"
    )
    return Path(root) / "bench"


def lcbench_pools(
    tasks: Sequence[str] | None = None,
    *,
    n_configs: int = 2000,
    seed: int = 0,
    split: pd.DataFrame | None = None,
    cache: bool = True,
) -> list[CurvePool]:
    """Pools of the LCBench surrogate: one Sobol sample of its space, every task's curves.

    The curves (val_accuracy, test_balanced_accuracy, the surrogate's seconds) are computed once
    per task and kept under ``$TUNEGYM_CACHE/bench`` (default ``~/.cache/tunegym/bench``), keyed
    by the model's checksum, ``n_configs`` and ``seed``: about 4 s per task for 2,000
    configurations on one core.

    Args:
        tasks: ``lcbench:<name>`` specs or bare names (default: all 34).
        n_configs: configurations per pool (LCBench's tables have 2,000).
        seed: seed of the Sobol sample (the same sample on every task).
        split: the suite's split (dataset, family, part); default: ``experiments/splits``'
            file when present, else every task ``meta-test`` of its own family.
        cache: read and write the cache.
    """
    from tunegym.space import LCBENCH_SPACE
    from tunegym.surrogates import LCBENCH_MODEL_SHA256, LCBench

    bench = LCBench.open()
    names = (
        sorted(bench.task_names.values())
        if tasks is None
        else [t.split(":", 1)[1] if t.startswith("lcbench:") else t for t in tasks]
    )
    configs = LCBENCH_SPACE.sample(n_configs, seed=seed)
    key = hashlib.sha256(
        json.dumps([LCBENCH_MODEL_SHA256, n_configs, seed, configs[:3]], default=str).encode()
    ).hexdigest()[:12]
    folder = _cache_dir() / f"lcbench-{n_configs}-{seed}-{key}"
    places = _places(split, [f"lcbench:{bench.task_names[bench.resolve_task(n)]}" for n in names])
    pools = []
    for name in names:
        task = f"lcbench:{bench.task_names[bench.resolve_task(name)]}"
        path = folder / f"{task.split(':', 1)[1]}.npz"
        if cache and path.is_file():
            with np.load(path) as stored:
                arrays = {k: stored[k] for k in ("val", "test", "seconds")}
        else:
            frame = bench.curves(name, configs, epochs=bench.epochs)
            shape = (len(configs), 1, bench.epochs)
            arrays = {
                "val": frame["val_accuracy"].to_numpy(np.float64).reshape(shape),
                "test": frame["test_balanced_accuracy"].to_numpy(np.float64).reshape(shape),
                "seconds": frame["seconds"].to_numpy(np.float64).reshape(shape),
            }
            if cache:
                folder.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
                np.savez_compressed(tmp, **arrays)
                tmp.replace(path)
        family, part = places[task]
        pools.append(CurvePool(task, family, part, LCBENCH_SPACE, tuple(configs), **arrays))
    return pools


def _places(split: pd.DataFrame | None, tasks: Sequence[str]) -> dict[str, tuple[str, str]]:
    """task -> (family, part) from a split, each task its own meta-test family without one."""
    if split is None:
        default = Path(__file__).resolve().parents[2] / "experiments" / "splits"
        path = default / "lcbench_split.json"
        if path.is_file() and all(t.startswith("lcbench:") for t in tasks):
            from tunegym.metastore import read_split

            split = read_split(path)
    if split is None:
        return {t: (t, "meta-test") for t in tasks}
    rows = {str(r.dataset): (str(r.family), str(r.part)) for r in split.itertuples()}
    missing = [t for t in tasks if t not in rows]
    if missing:
        raise ValueError(f"The split has no row for {missing[:3]}; add them or pass split=None.")
    return rows


# --- curve tables ----------------------------------------------------------------------------


def table_pools(
    frame: pd.DataFrame,
    *,
    split: pd.DataFrame | None = None,
    metric: str = "val_accuracy",
    space: Space | None = None,
) -> list[CurvePool]:
    """Pools of a curve table (``docs/CURVES.md``), one per ``dataset`` value.

    Every configuration must be recorded with the same seeds; a run that diverged or stopped
    early keeps its last score for the epochs it lacks (what its incumbent was worth).

    Args:
        frame: the table (``tunegym.metastore.load_snapshot`` gives the meta-dataset's).
        split: (dataset, family, part) rows; default: each dataset its own meta-test family.
        metric: the validation column (larger is better); its ``test_`` twin is the test score
            when present.
        space: the hyperparameters (default: the span of the table's values).

    Raises:
        ValueError: no such metric, or configurations recorded with different seeds.
    """
    from tunegym.envs._tables import curve_search

    if metric not in frame:
        raise ValueError(
            f"The curve table has no {metric!r} column; its metrics: "
            f"{[c for c in frame.columns if str(c).startswith('val_')]}."
        )
    test_column = _TEST_FOR.get(metric, "test_" + metric.removeprefix("val_"))
    frame = frame if "dataset" in frame else frame.assign(dataset="table")
    frame = frame if "seed" in frame else frame.assign(seed=0)
    datasets = [str(d) for d in pd.unique(frame["dataset"])]
    places = _places(split, datasets)
    pools = []
    for dataset in datasets:
        part = frame[frame["dataset"].astype(str) == dataset].drop(columns="dataset")
        search = curve_search(part, space)
        names = list(search.names)
        keys = [tuple(row) for row in part[names].itertuples(index=False)]
        index = {k: i for i, k in enumerate(dict.fromkeys(keys))}
        seeds = sorted(pd.unique(part["seed"]))
        rows = np.array([index[k] for k in keys])
        cols = np.searchsorted(seeds, part["seed"].to_numpy())
        epochs = part["epoch"].to_numpy(np.int64) - 1
        e_max = int(epochs.max()) + 1
        shape = (len(index), len(seeds), e_max)
        counts = np.zeros(shape[:2], dtype=np.int64)
        np.add.at(counts, (rows, cols), 1)
        if (counts == 0).any():
            raise ValueError(
                f"{dataset}: some configurations lack some of the seeds {seeds}; a pool needs "
                "every configuration recorded with the same seeds."
            )

        where_ = (rows, cols, epochs)

        configs = tuple({n: _plain(v) for n, v in zip(names, k, strict=True)} for k in index)
        family, where = places[dataset]
        pools.append(
            CurvePool(
                dataset,
                family,
                where,
                search.space if search.space is not None else Space.from_grid({}),
                configs,
                val=_grid(part[metric], where_, shape),
                test=_grid(part[test_column if test_column in part else metric], where_, shape),
                seconds=_grid(part["seconds"], where_, shape)
                if "seconds" in part
                else np.ones(shape),
                metric=metric,
            )
        )
    return pools


def _grid(
    column: pd.Series, where: tuple[Any, Any, Any], shape: tuple[int, int, int]
) -> npt.NDArray[np.float64]:
    """A table column as ``[configs, seeds, epochs]``, gaps carried forward."""
    out = np.full(shape, np.nan)
    out[where] = column.to_numpy(np.float64)
    return _carry_forward(out)


def _carry_forward(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Fill each curve's missing epochs with its last recorded value (its first if it lacks it)."""
    out = values.copy()
    for e in range(1, out.shape[2]):
        gap = np.isnan(out[:, :, e])
        out[:, :, e][gap] = out[:, :, e - 1][gap]
    first = np.isnan(out)
    if first.any():
        fill = np.nanmin(np.where(np.isnan(out), np.inf, out), axis=2, keepdims=True)
        out = np.where(first, np.broadcast_to(fill, out.shape), out)
    return out


def _plain(value: object) -> object:
    item = getattr(value, "item", None)
    return item() if callable(item) else value


# --- suites --------------------------------------------------------------------------------


def load_suite(
    suite: str, *, split: str | None = None, lcbench_configs: int = 2000
) -> list[CurvePool]:
    """The tasks of a suite: ``lcbench``, ``own`` (the meta-dataset v2), ``finetune`` (the
    meta-dataset of fine-tuning: each target's candidates start from scratch or from its
    sibling's model, so its tasks' configurations differ, aligned by position) or a curve
    table's path.

    Args:
        suite: the suite's name or a ``.csv`` / ``.parquet`` curve table (``docs/CURVES.md``).
        split: a split file (``tunegym.metastore.write_split``'s JSON); default: the suite's own
            (``experiments/splits/lcbench_split.json``, the snapshot's split), for a table none
            (every dataset meta-test: warm-started peers then cannot run). ``finetune`` has only
            its own family split.
        lcbench_configs: configurations per LCBench pool.
    """
    from tunegym.metastore import read_split

    if suite == "finetune":
        if split is not None:
            raise ValueError(
                "The 'finetune' suite keeps its own family split (siblings share rows); "
                "drop split=."
            )
        from tunegym.envs._finetune import finetune_pools

        return finetune_pools()
    table = read_split(split) if split is not None else None
    if suite == "lcbench":
        return lcbench_pools(n_configs=lcbench_configs, split=table)
    if suite == "own":
        from tunegym.metastore import LCBENCH_SNAPSHOT_DIR, load_snapshot, snapshot_split

        frame = load_snapshot(path=LCBENCH_SNAPSHOT_DIR)
        return table_pools(frame, split=table if table is not None else snapshot_split(
            LCBENCH_SNAPSHOT_DIR))  # fmt: skip
    path = Path(suite)
    if not path.exists():
        raise ValueError(
            f"Unknown suite {suite!r}: use 'lcbench', 'own', 'finetune' or the path of a "
            "curve table (.csv or .parquet, docs/CURVES.md)."
        )
    from tunegym.envs._tables import read_curve_table

    return table_pools(read_curve_table(path), split=table)


@functools.cache
def snapshot_meta_features() -> dict[str, npt.NDArray[np.float32]]:
    """Meta-features of meta-dataset v2's tasks (the ``own`` suite), by task name; LCBench's
    tasks have none stored. Read once per process."""
    from tunegym.metastore import LCBENCH_SNAPSHOT_DIR, load_snapshot

    stored = load_snapshot(path=LCBENCH_SNAPSHOT_DIR).attrs.get("tunegym", {})
    return {
        name: np.asarray(entry["meta_features"], dtype=np.float32)
        for name, entry in stored.get("datasets", {}).items()
        if entry.get("meta_features") is not None
    }


@functools.cache
def prior_meta_features() -> dict[str, npt.NDArray[np.float32]]:
    """Every suite task's meta-features that the warm start's prior weighs its meta-train tasks
    by (`tunegym.envs.meta_log_weights`): LCBench's (from OpenML's qualities,
    `lcbench_meta_features`) and meta-dataset v2's (`snapshot_meta_features`), by task name."""
    from tunegym.envs._features import lcbench_meta_features

    return {**lcbench_meta_features(), **snapshot_meta_features()}


# --- a pool as a backend ---------------------------------------------------------------------


class PoolBackend:
    """A `CurvePool` served through the env's `Backend` protocol (replay of the pool's curves).

    ``start(config, seed)`` opens the pool's configuration with exactly that key on seed
    ``seed % S``; ``advance`` serves the next epochs; ``truth`` is the seed-mean curve the
    benchmark scores an incumbent with, so an env trained here is rewarded on protocol v2's truth.

    Args:
        pool: the task.
        meta_features: the task's meta-features (``tunegym.envs.META_FEATURE_NAMES``; zeros
            when unknown).

    Example:
        >>> from tunegym.space import Float, Space
        >>> space = Space((Float("lr", 0.001, 1.0, log=True),))
        >>> curves = np.array([[[0.5, 0.6]], [[0.7, 0.9]]])
        >>> pool = CurvePool("toy", "toy", "meta-train", space, ({"lr": 0.01}, {"lr": 0.1}),
        ...                  curves, curves, np.ones_like(curves))
        >>> backend = PoolBackend(pool)
        >>> backend.advance(backend.start({"lr": 0.1}, seed=3), 2).scores.tolist()
        [0.7, 0.9]
    """

    def __init__(self, pool: CurvePool, meta_features: npt.ArrayLike | None = None) -> None:
        from tunegym.envs._features import META_FEATURE_NAMES

        self.pool = pool
        self._index = {pool.space.key(c): i for i, c in enumerate(pool.configs)}
        meta = np.zeros(len(META_FEATURE_NAMES), dtype=np.float32)
        if meta_features is not None:
            meta = np.asarray(meta_features, dtype=np.float32).reshape(len(META_FEATURE_NAMES))
        self._meta = meta
        self._open: dict[int, list[int]] = {}
        self._next = 0

    @property
    def meta_features(self) -> npt.NDArray[np.float32]:
        return self._meta

    @property
    def score_bounds(self) -> tuple[float, float]:
        return self.pool.bounds

    def index(self, config: Mapping[str, Any]) -> int:
        """The pool's index of ``config``.

        Raises:
            KeyError: the pool does not hold ``config`` (replay never interpolates).
        """
        i = self._index.get(self.pool.space.key(config))
        if i is None:
            raise KeyError(f"{self.pool.task}: the pool holds no configuration {dict(config)}.")
        return i

    def truth(self, config: Mapping[str, Any]) -> npt.NDArray[np.float64]:
        """The seed-mean validation curve of ``config``."""
        return np.asarray(self.pool.truth[self.index(config)])

    def start(self, config: Mapping[str, Any], seed: int) -> int:
        handle, self._next = self._next, self._next + 1
        self._open[handle] = [self.index(config), int(seed) % self.pool.n_seeds, 0]
        return handle

    def advance(self, handle: int, k: int) -> Segment:
        entry = self._open.get(handle)
        if entry is None:
            raise KeyError(f"No open trial with handle {handle}.")
        i, s, done = entry
        end = min(done + int(k), self.pool.max_epochs)
        entry[2] = end
        pool = self.pool
        return Segment(
            pool.val[i, s, done:end], pool.test[i, s, done:end], pool.seconds[i, s, done:end],
            False,
        )  # fmt: skip

    def release(self, handle: int) -> None:
        self._open.pop(handle, None)


def config_prior(
    train: Sequence[CurvePool],
    configs: Sequence[Mapping[str, Any]],
    space: Space,
    *,
    weights: npt.ArrayLike | None = None,
) -> npt.NDArray[np.float32]:
    """Predicted normalised final score of each of ``configs`` from the meta-train tasks.

    On each task the seed-mean final scores are scaled to [0, 1] (best 1); a configuration is
    worth the score of the task's nearest configuration in the unit cube (itself when the tasks
    recorded it), averaged over the tasks with ``weights`` (uniform by default; e.g. larger for
    tasks whose meta-features are close). This is the warm start's prior that the freeze-thaw
    env shows per candidate.

    Raises:
        ValueError: no meta-train task, or weights of the wrong length.
    """
    if not train:
        raise ValueError("A prior needs at least one meta-train task.")
    w = np.ones(len(train)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(train),) or not np.isfinite(w).all() or w.sum() <= 0:
        raise ValueError(f"weights must be {len(train)} finite values, not all 0; got {w!r}.")
    finals = finals_at(train, aligned_indices(train, configs, space))
    return np.asarray((w / w.sum()) @ finals, dtype=np.float32)


def finals_at(
    train: Sequence[CurvePool], at: Sequence[npt.NDArray[np.intp]]
) -> npt.NDArray[np.float64]:
    """``[tasks, len(at[t])]``: each task's normalised final scores (`normalised_finals`) at its
    indices ``at[t]`` (`aligned_indices`); the tasks may hold different numbers of configurations."""
    return np.stack([normalised_finals([p])[0][i] for p, i in zip(train, at, strict=True)])


def normalised_finals(pools: Sequence[CurvePool]) -> npt.NDArray[np.float64]:
    """``[tasks, n]``: each task's seed-mean final scores scaled to [0, 1] (best 1)."""
    rows = []
    for p in pools:
        final = p.truth[:, -1]
        rows.append((final - final.min()) / max(final.max() - final.min(), 1e-12))
    return np.vstack(rows)


def normalised_areas(pools: Sequence[CurvePool]) -> npt.NDArray[np.float64]:
    """``[tasks, n]``: each task's seed-mean learning curves averaged over the epochs (the area
    under the curve, which rewards reaching a score early as well as the score) scaled to
    [0, 1] (best 1)."""
    rows = []
    for p in pools:
        area = p.truth.mean(axis=1)
        rows.append((area - area.min()) / max(area.max() - area.min(), 1e-12))
    return np.vstack(rows)


def nested_portfolio(table: npt.NDArray[np.float64], kinds: npt.ArrayLike, k: int) -> list[int]:
    """A portfolio of columns of two kinds (``kinds``: 1 fine-tunes a model, 0 trains from
    scratch) that holds the scratch-only portfolio, in its order.

    The greedy portfolio over all columns decides where fine-tuning columns come; its scratch
    picks are replaced, in order, by the greedy portfolio of the scratch columns alone, whose
    remaining picks follow. So a run that may fine-tune tries every scratch configuration a run
    without a model would try first, and in the same order, only later: the greedy portfolio
    over both kinds would pick the scratch columns that best complement its fine-tuning picks,
    and lose the ones that win where fine-tuning does not pay.
    """
    kinds = np.asarray(kinds)
    scratch_cols = np.flatnonzero(kinds == 0)
    scratch = iter([int(scratch_cols[j]) for j in greedy_portfolio(table[:, scratch_cols], k)])
    picked = [j if kinds[j] else next(scratch) for j in greedy_portfolio(table, k)]
    return picked + list(scratch)


def greedy_portfolio(table: npt.NDArray[np.float64], k: int) -> list[int]:
    """A greedy portfolio of ``k`` columns of a tasks × configurations score table (Feurer et
    al., 2015): first the best mean, then each time the column that adds most to the mean over
    tasks of the best score among the picks."""
    picked: list[int] = []
    covered = np.zeros(table.shape[0])
    for _ in range(min(k, table.shape[1])):
        gain = np.maximum(table, covered[:, None]).mean(axis=0)
        gain[picked] = -np.inf
        best = int(np.argmax(gain))
        picked.append(best)
        covered = np.maximum(covered, table[:, best])
    return picked
