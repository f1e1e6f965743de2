"""Warm start from similar datasets: neighbours, a portfolio, a shrunken box, prior features.

* **Neighbours** — the ``k`` datasets nearest to the target by L1 distance on meta-features
  min-max scaled over all datasets (as auto-sklearn's meta-learning does), averaged over the
  qualities both sides have; the target itself (same name or OpenML id) is always left out.
* **Portfolio** — the best grid configurations of the neighbours, round robin (each neighbour's
  best, nearest first, then each one's second best, ...), each with its provenance: source
  dataset, distance, the run ids behind it and its score there, and its expected score on the
  target (the prior's value for it: how good it is over all the neighbours, not just its own).
* **Search box** — min/max learning rate and batch size over the neighbours' top configurations
  (Syne Tune's ``BoundingBox`` idea); ``SearchBox.restrict`` cuts a grid down to it.
* **Prior** — for every grid configuration, the distance-weighted mean (weights
  ``1 / (distance + 0.001)``) of the neighbours' normalised final validation score (mean over
  seeds, scaled per neighbour to [0, 1] between its worst and best configuration): what
  `tunegym.envs.TuningEnv` takes as ``prior``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np
import pandas as pd

from tunegym.errors import did_you_mean
from tunegym.metastore._store import MetaStore
from tunegym.metastore._values import config_columns
from tunegym.space import learning_rate_of

__all__ = [
    "Layer",
    "Neighbor",
    "PortfolioEntry",
    "SearchBox",
    "WarmStart",
    "compute_warm_start",
    "nearest_datasets",
    "store_meta_features",
]


class Layer(enum.StrEnum):
    """Where a warm-start candidate's curves come from (see `warm_start_candidates`)."""

    SNAPSHOT = "snapshot"  # the meta-dataset shipped with tunegym: the read-only base
    STORE = "store"  # the user's meta-store, layered on top


@dataclass(frozen=True)
class Neighbor:
    """A dataset near the target, by meta-feature distance.

    Attributes:
        dataset: its label (spec, else name).
        distance: mean absolute difference of the scaled meta-features.
        openml_did: its OpenML id, if any.
        layer: where its curves come from, when known.
    """

    dataset: str
    distance: float
    openml_did: int | None = None
    layer: Layer | None = None


@dataclass(frozen=True)
class PortfolioEntry:
    """A configuration to try first, with where it comes from.

    Attributes:
        lr: learning rate (a grid value).
        batch_size: batch size (a grid value).
        epochs: the epoch at which it scored best on the neighbour (mean over seeds).
        expected_score: its predicted normalised score on the target, in [0, 1]: the
            distance-weighted mean (``1 / (distance + 0.001)``) over the neighbours that ran it
            of its final score there scaled between that dataset's worst (0) and best (1)
            configuration — on the grid, the prior's value for it. Not 1 by construction: a
            neighbour's best may do less well on the others.
        score: its raw mean validation score (accuracy) on the neighbour at ``epochs``.
        dataset: the neighbour it comes from.
        distance: that neighbour's distance to the target.
        run_ids: the meta-store runs behind it (one per seed), empty when unknown.
        config: off the lr × batch-size grid, the whole configuration (e.g. LCBench's 7
            hyperparameters; ``lr`` and ``batch_size`` then repeat its learning rate and batch
            size, ``nan`` and 0 where it has none); ``None`` on the grid.
    """

    lr: float
    batch_size: int
    epochs: int
    expected_score: float
    score: float
    dataset: str
    distance: float
    run_ids: tuple[int, ...] = ()
    config: Mapping[str, Any] | None = None

    @property
    def identity(self) -> Hashable:
        """What makes two entries one configuration: (lr, batch size), or the whole config."""
        if self.config is None:
            return (self.lr, self.batch_size)
        return tuple(sorted(self.config.items()))


@dataclass(frozen=True)
class SearchBox:
    """Ranges spanned by the neighbours' top configurations."""

    lr_min: float
    lr_max: float
    batch_size_min: int
    batch_size_max: int

    def contains(self, lr: float, batch_size: int) -> bool:
        """Whether (lr, batch size) lies in the box (bounds included, relative tolerance 1e-9)."""
        return (
            self.lr_min * (1 - 1e-9) <= lr <= self.lr_max * (1 + 1e-9)
            and self.batch_size_min <= batch_size <= self.batch_size_max
        )

    def restrict(
        self, lrs: Sequence[float], batch_sizes: Sequence[int]
    ) -> tuple[tuple[float, ...], tuple[int, ...]]:
        """The grid values inside the box (e.g. for ``SearchSpace(lrs=..., batch_sizes=...)``)."""
        inside_lrs = tuple(v for v in lrs if self.contains(v, self.batch_size_min))
        inside_bs = tuple(b for b in batch_sizes if self.contains(self.lr_min, b))
        return inside_lrs, inside_bs


@dataclass(frozen=True)
class WarmStart:
    """Everything the warm start derives for one target dataset and grid."""

    target: str
    neighbors: tuple[Neighbor, ...]
    portfolio: tuple[PortfolioEntry, ...]
    box: SearchBox | None
    prior: np.ndarray  # (n_lrs, n_batch_sizes), values in [0, 1]
    lrs: tuple[float, ...]
    batch_sizes: tuple[int, ...]


_GRID_KEYS: Final = ("lr", "batch_size")
_DISTANCE_EPS: Final = 1e-3  # a neighbour at distance 0 (the target's own runs) weighs 1,000


def _scaled(table: pd.DataFrame) -> pd.DataFrame:
    numeric = table.apply(pd.to_numeric, errors="coerce").astype(float)
    low, high = numeric.min(), numeric.max()
    span = (high - low).replace(0.0, np.nan)
    return (numeric - low) / span


def nearest_datasets(
    features: pd.DataFrame,
    target: Mapping[str, float] | pd.Series,
    *,
    k: int = 5,
    exclude: Sequence[str] = (),
    openml_dids: Mapping[str, int | None] | None = None,
    target_did: int | None = None,
) -> list[Neighbor]:
    """The ``k`` datasets of ``features`` nearest to ``target`` (L1 on min-max scaled qualities).

    Args:
        features: one row per candidate dataset (index: its name), one column per quality.
        target: the target's qualities (by the same names); missing ones are ignored.
        k: how many neighbours.
        exclude: names never returned (the target itself).
        openml_dids: OpenML id of each candidate, to leave out the target's OpenML twin.
        target_did: the target's OpenML id, if any.

    Returns:
        Neighbours, nearest first (ties broken by name). Qualities the target lacks, or that are
        constant over the candidates, do not count; a candidate's distance is the mean absolute
        scaled difference over the qualities both it and the target have.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k!r}.")
    target_row = pd.Series(dict(target), dtype=float)
    columns = [
        c for c in features.columns if c in target_row.index and math.isfinite(target_row[c])
    ]
    if not columns:
        raise ValueError(
            "The target shares no finite meta-feature with the candidates; "
            f"candidates have {sorted(features.columns)[:10]}..., target has {sorted(target_row.index)[:10]}."
        )
    excluded = set(exclude)
    if target_did is not None and openml_dids is not None:
        excluded |= {name for name, did in openml_dids.items() if did == target_did}
    candidates = features.loc[[i for i in features.index if i not in excluded], columns]
    if candidates.empty:
        return []
    both = pd.concat([candidates, target_row[columns].to_frame("__target__").T])
    scaled = _scaled(both)
    diffs = (scaled.loc[candidates.index] - scaled.loc["__target__"]).abs()
    distance = diffs.mean(axis=1, skipna=True)
    order = sorted((d if math.isfinite(d) else math.inf, str(name)) for name, d in distance.items())
    return [
        Neighbor(
            dataset=name,
            distance=float(d),
            openml_did=None if openml_dids is None else openml_dids.get(name),
        )
        for d, name in order[:k]
    ]


def _config_scores(curves: pd.DataFrame, metric: str, keys: list[str]) -> pd.DataFrame:
    """Per configuration (``keys``): final score, best epoch and its score (seed means), run ids."""
    last = curves.sort_values("epoch").groupby([*keys, "seed"]).tail(1)
    final = last.groupby(keys)[metric].mean().rename("final")
    by_epoch = curves.groupby([*keys, "epoch"])[metric].mean().reset_index()
    best_rows = by_epoch.loc[by_epoch.groupby(keys)[metric].idxmax()]
    best = best_rows.set_index(keys)[["epoch", metric]].rename(columns={metric: "best"})
    table = pd.concat([final, best], axis=1)
    if "run_id" in curves.columns:
        ids = curves.groupby(keys)["run_id"].agg(_sorted_ids)
        table["run_ids"] = ids.reindex(table.index)
    else:
        table["run_ids"] = [() for _ in range(len(table))]
    return table


def _sorted_ids(run_ids: pd.Series) -> tuple[int, ...]:
    return tuple(sorted({int(i) for i in run_ids}))


def _as_tuple(index: Any) -> tuple[Any, ...]:
    return index if isinstance(index, tuple) else (index,)


def _plain_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """numpy scalars as Python numbers (a configuration goes to JSON and to Optuna)."""
    return {str(k): v.item() if hasattr(v, "item") else v for k, v in config.items()}


def _config_key(config: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """A configuration's identity across neighbours: every value by name, numbers to 9
    significant digits (as the prior's grid keys)."""
    return tuple(
        sorted(
            (str(name), float(f"{float(v):.9g}") if isinstance(v, int | float | np.number) else v)
            for name, v in config.items()
        )
    )


def _normalised(values: pd.Series) -> pd.Series:
    low, high = values.min(), values.max()
    return (values - low) / (high - low) if high > low else pd.Series(1.0, index=values.index)


def compute_warm_start(
    target: str,
    neighbors: Sequence[Neighbor],
    curves_of: Callable[[str], pd.DataFrame],
    lrs: Sequence[float],
    batch_sizes: Sequence[int],
    *,
    metric: str = "val_accuracy",
    top: int = 3,
    n_portfolio: int = 8,
) -> WarmStart:
    """Portfolio, box and prior for ``target`` from its neighbours' recorded curves.

    Args:
        target: the target's name (for the report).
        neighbors: from `nearest_datasets`.
        curves_of: returns a neighbour's curve table (``tunegym.envs`` format, optionally with a
            ``run_id`` column).
        lrs: the grid's learning rates (prior rows).
        batch_sizes: the grid's batch sizes (prior columns).
        metric: validation metric.
        top: configurations per neighbour that span the search box.
        n_portfolio: portfolio length (distinct configurations, nearest neighbour first).
    """
    if top < 1 or n_portfolio < 1:
        raise ValueError(f"top and n_portfolio must be >= 1, got {top!r} and {n_portfolio!r}.")
    lr_keys = [float(f"{v:.9g}") for v in lrs]
    prior_sum = np.zeros((len(lrs), len(batch_sizes)))
    weight_sum = np.zeros_like(prior_sum)
    per_neighbor: list[list[tuple[Hashable, PortfolioEntry]]] = []  # (its _config_key, entry)
    expected_sum: dict[Hashable, float] = {}  # per configuration, over all the neighbours
    expected_weight: dict[Hashable, float] = {}
    box_lrs: list[float] = []
    box_bs: list[int] = []
    for neighbor in neighbors:
        curves = curves_of(neighbor.dataset)
        if curves.empty:
            continue
        if metric not in curves.columns:
            raise ValueError(
                f"Curves lack the metric {metric!r}." + did_you_mean(metric, curves.columns)
            )
        keys = config_columns(curves)
        table = _config_scores(curves, metric, keys)
        table["expected"] = _normalised(table["final"])
        configs = [dict(zip(keys, _as_tuple(index), strict=True)) for index in table.index]
        weight = 1.0 / (neighbor.distance + _DISTANCE_EPS)
        for config, expected in zip(configs, table["expected"], strict=True):
            same = _config_key(config)
            # An infinite distance weighs 0 in the prior; here barely more (never a 0/0).
            w = max(weight, 1e-12)
            expected_weight[same] = expected_weight.get(same, 0.0) + w
            expected_sum[same] = expected_sum.get(same, 0.0) + w * float(expected)
            lr, bs = learning_rate_of(config), config.get("batch_size")
            key = None if lr is None else float(f"{lr:.9g}")
            if key in lr_keys and bs is not None and int(bs) in batch_sizes:
                i, j = lr_keys.index(key), list(batch_sizes).index(int(bs))
                prior_sum[i, j] += weight * expected
                weight_sum[i, j] += weight
        order = table.assign(position=range(len(table))).sort_values(
            ["final", "best"], ascending=False
        )
        best = order.head(top)
        per_neighbor.append([])
        for position, row in zip(best["position"], best.to_dict("records"), strict=True):
            config = configs[int(position)]
            lr, bs = learning_rate_of(config), config.get("batch_size")
            if lr is not None and bs is not None:
                box_lrs.append(lr)
                box_bs.append(int(bs))
            entry = PortfolioEntry(
                lr=math.nan if lr is None else lr,
                batch_size=0 if bs is None else int(bs),
                epochs=int(row["epoch"]),
                expected_score=float(row["expected"]),  # replaced below (over all)
                score=float(row["best"]),
                dataset=neighbor.dataset,
                distance=neighbor.distance,
                run_ids=tuple(row["run_ids"]),
                config=None if keys == list(_GRID_KEYS) else _plain_config(config),
            )
            per_neighbor[-1].append((_config_key(config), entry))
    # Round robin: each neighbour's best (nearest first), then each one's second best, ...,
    # each expected score taken over every neighbour that ran it, not only its source.
    predicted = {k: min(1.0, max(0.0, expected_sum[k] / expected_weight[k])) for k in expected_sum}
    ranked = [
        replace(entries[r][1], expected_score=predicted[entries[r][0]])
        for r in range(top)
        for entries in per_neighbor
        if r < len(entries)
    ]
    portfolio: list[PortfolioEntry] = []
    seen: set[Hashable] = set()
    for entry in ranked:
        identity = entry.identity
        if identity not in seen and len(portfolio) < n_portfolio:
            seen.add(identity)
            portfolio.append(entry)
    prior = np.divide(prior_sum, weight_sum, out=np.zeros_like(prior_sum), where=weight_sum > 0)
    box = SearchBox(min(box_lrs), max(box_lrs), min(box_bs), max(box_bs)) if box_lrs else None
    return WarmStart(
        target=target,
        neighbors=tuple(neighbors),
        portfolio=tuple(portfolio),
        box=box,
        prior=np.clip(prior, 0.0, 1.0).astype(np.float32),
        lrs=tuple(float(v) for v in lrs),
        batch_sizes=tuple(int(v) for v in batch_sizes),
    )


def store_meta_features(store: MetaStore, spec: str) -> dict[str, float]:
    """Compute a dataset's meta-features (OpenML names) and store them as ``computed``.

    The dataset is created in the store if needed (with its OpenML id where known).
    """
    from tunegym.data import read_table
    from tunegym.metastore._metafeatures import compute_meta_features

    table = read_table(spec)
    values = compute_meta_features(table)
    dataset = store.get_or_create_dataset(table.name, spec=spec, openml_did=table.openml_id)
    store.set_meta_features(dataset, values, source="computed")
    return values
