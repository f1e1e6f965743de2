"""What a warm start draws on, in two layers: the shipped snapshot under the user's store.

A fresh install has an empty meta-store but ships a meta-dataset (`SNAPSHOT_DIR`: the curves
and meta-features of 144 datasets). Every read that compares datasets — `warm_start`,
`warm_start_snapshot`, ``tunegym metastore neighbors`` and ``stats`` — goes through one
`CandidatePool` built by `candidate_pool`: the snapshot as a read-only base layer and the
user's store on top.

* A dataset only in the store is **added**.
* A dataset both hold (same label, or same OpenML id) is the **store's**: its curves replace
  the snapshot's whole — they were recorded with the user's model, budget and hardware, so
  mixing them with the snapshot's configurations would rank unlike runs together — and the
  qualities the store lacks are taken from the snapshot's (qualities describe the data, not
  the runs).

``include_snapshot=False`` (CLI ``--no-snapshot``) queries the store alone, e.g. a team store.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, cast

import numpy as np
import pandas as pd
from sqlalchemy import select

from tunegym.metastore._families import dataset_family
from tunegym.metastore._schema import Dataset, Run, Task
from tunegym.metastore._snapshot import (
    SnapshotStats,
    load_snapshot,
    snapshot_meta_features,
    snapshot_stats,
)
from tunegym.metastore._store import MetaStore
from tunegym.metastore._values import ENV_FEATURE_NAMES, ENV_FEATURE_PREFIX, StoreStats
from tunegym.metastore._warmstart import Layer, WarmStart, compute_warm_start, nearest_datasets

__all__ = [
    "CandidatePool",
    "LayeredStats",
    "candidate_pool",
    "layered_stats",
    "warm_start",
    "warm_start_from",
    "warm_start_snapshot",
]

# The env's own observation features describe the env, not the data: never compared.
_ENV_COLUMNS: Final = tuple(ENV_FEATURE_PREFIX + n for n in ENV_FEATURE_NAMES)
_SNAPSHOT_IDENTITY: Final = ("openml_did", "family", "part")  # snapshot_meta_features' lead


@dataclass(frozen=True)
class CandidatePool:
    """Datasets a warm start may draw on: their qualities, OpenML ids, layers and curves.

    Attributes:
        features: one row per dataset with curves (index: its label, spec else name), one
            column per quality (OpenML names and ``tunegym.*`` landmarkers; the env's own
            features left out); NaN where unknown.
        openml_dids: each dataset's OpenML id (``None`` where it has none).
        layers: each dataset's layer.
        curves_of: a dataset's curve table (``tunegym.envs`` format; a store's has ``run_id``).
    """

    features: pd.DataFrame
    openml_dids: Mapping[str, int | None]
    layers: Mapping[str, Layer]
    curves_of: Callable[[str], pd.DataFrame]

    def comparable(self) -> pd.DataFrame:
        """The rows of ``features`` with at least one known quality: the possible neighbours."""
        return self.features.dropna(how="all")

    def over(self, base: CandidatePool) -> CandidatePool:
        """This pool layered over ``base`` (see the module for who wins).

        A dataset of this pool replaces the dataset of ``base`` with the same label or, failing
        that, the same OpenML id; ``base`` fills in the qualities it lacks.
        """
        by_did = {did: label for label, did in base.openml_dids.items() if did is not None}
        twins: dict[str, str] = {}
        for label in map(str, self.features.index):
            did = self.openml_dids.get(label)
            twin = label if label in base.layers else by_did.get(did) if did is not None else None
            if twin is not None:
                twins[label] = twin
        mine = self.features
        if twins:
            filler = base.features.loc[list(twins.values())].set_axis(list(twins), axis=0)
            mine = mine.combine_first(filler)
        replaced = set(twins.values())
        kept = [str(label) for label in base.features.index if label not in replaced]
        columns = mine.columns.union(base.features.columns)
        features = pd.concat(
            [mine.reindex(columns=columns), base.features.loc[kept].reindex(columns=columns)]
        )

        def curves_of(label: str) -> pd.DataFrame:
            return (self if label in self.layers else base).curves_of(label)

        return CandidatePool(
            features=features.astype(np.float64),
            openml_dids={**{k: base.openml_dids[k] for k in kept}, **self.openml_dids},
            layers={**{k: base.layers[k] for k in kept}, **self.layers},
            curves_of=curves_of,
        )


def _qualities(table: pd.DataFrame) -> pd.DataFrame:
    """Float qualities, indexed by label, without the env's own features."""
    out = table.drop(columns=[c for c in _ENV_COLUMNS if c in table.columns])
    out.index = pd.Index([str(i) for i in out.index], dtype=object)
    return out.astype(np.float64)


def _labels(frame: pd.DataFrame) -> dict[int, str]:
    """Dataset id -> label (spec, else name) of a `MetaStore.datasets` table."""
    return {
        int(i): str(spec) if isinstance(spec, str) else str(name)
        for i, spec, name in zip(frame.index, frame["spec"], frame["name"], strict=True)
    }


def _curve_labels(store: MetaStore) -> list[str]:
    """Labels of the datasets with per-epoch local runs: the store's warm-start candidates."""
    query = (
        select(Dataset.spec, Dataset.name)
        .join(Task, Task.dataset_id == Dataset.id)
        .join(Run, Run.task_id == Task.id)
        .where(Run.source == "local")
        .distinct()
    )
    with store.engine.connect() as connection:
        return sorted({spec or name for spec, name in connection.execute(query)})


def _store_pool(store: MetaStore) -> CandidatePool:
    labels = _curve_labels(store)
    frame = store.datasets()
    label_of = _labels(frame)
    dids = {
        label_of[int(i)]: None if pd.isna(did) else int(did)
        for i, did in zip(frame.index, frame["openml_did"], strict=True)
    }
    features = store.meta_features()
    features.index = pd.Index([label_of[int(i)] for i in features.index], dtype=object)
    return CandidatePool(
        features=_qualities(features).reindex(pd.Index(labels, dtype=object)),
        openml_dids={label: dids.get(label) for label in labels},
        layers=dict.fromkeys(labels, Layer.STORE),
        curves_of=lambda label: store.curves(label, run_ids=True),
    )


def _snapshot_pool(path: str | Path | None) -> CandidatePool:
    table = snapshot_meta_features(path)
    features = _qualities(table.drop(columns=[c for c in _SNAPSHOT_IDENTITY if c in table]))
    return CandidatePool(
        features=features,
        openml_dids={
            str(name): None if pd.isna(did) else int(did)
            for name, did in table["openml_did"].items()
        },
        layers=dict.fromkeys(features.index, Layer.SNAPSHOT),
        curves_of=lambda label: load_snapshot([label], path=path),
    )


def candidate_pool(
    store: MetaStore | None = None,
    *,
    include_snapshot: bool = True,
    snapshot_path: str | Path | None = None,
) -> CandidatePool:
    """The datasets a warm start draws on: the snapshot's, with the store's layered on top.

    On a dataset both hold (same label or OpenML id) the store wins: its curves replace the
    snapshot's, and the snapshot fills in the qualities the store lacks. Datasets only in the
    store are added.

    Args:
        store: the user's meta-store; ``None``: the snapshot alone.
        include_snapshot: lay the store over the snapshot (``False``: the store alone).
        snapshot_path: a snapshot folder (default: the one shipped with tunegym).

    Raises:
        ValueError: when neither a store nor the snapshot is asked for.

    Example:
        >>> pool = candidate_pool()  # no store: the shipped snapshot
        >>> len(pool.comparable()), pool.layers["keel:magic"].value
        (144, 'snapshot')
    """
    if store is None:
        if not include_snapshot:
            raise ValueError(
                "Nothing to draw on: pass a store, or include_snapshot=True for the shipped "
                "snapshot."
            )
        return _snapshot_pool(snapshot_path)
    top = _store_pool(store)
    return top.over(_snapshot_pool(snapshot_path)) if include_snapshot else top


def warm_start_from(
    pool: CandidatePool,
    target: str | Mapping[str, float],
    lrs: Sequence[float],
    batch_sizes: Sequence[int],
    *,
    k: int = 5,
    candidates: Sequence[str] | None = None,
    exclude_family: bool = False,
    metric: str = "val_accuracy",
    top: int = 3,
    n_portfolio: int = 8,
) -> WarmStart:
    """Warm start for ``target`` from the datasets of ``pool`` (what `warm_start` runs).

    Neighbours are `nearest_datasets` over the pool's qualities, each marked with its layer;
    the portfolio, box and prior come from their curves (`compute_warm_start`). The target,
    its OpenML twin and (with ``exclude_family``) its family are never its neighbours.

    Args:
        pool: from `candidate_pool`.
        target: a dataset spec (its qualities in the pool if it has them, else computed) or
            meta-feature values under OpenML's names.
        lrs: the grid's learning rates.
        batch_sizes: the grid's batch sizes.
        k: neighbours.
        candidates: labels allowed as neighbours (e.g. the meta-train part); ``None``: all.
        exclude_family: also leave out the target's family (`dataset_family`).
        metric: validation metric of the curves.
        top: configurations per neighbour spanning the search box.
        n_portfolio: portfolio length.
    """
    table = pool.comparable()
    if isinstance(target, str) and target in table.index:
        name, target_did = target, pool.openml_dids.get(target)
        row = cast(pd.Series, table.loc[target]).dropna()
        values: Mapping[str, float] = dict(zip(map(str, row.index), row.tolist(), strict=True))
    elif isinstance(target, str):
        from tunegym.data import read_table
        from tunegym.metastore._metafeatures import compute_meta_features

        data = read_table(target)
        name, target_did, values = target, data.openml_id, compute_meta_features(data)
    else:
        name, target_did, values = "<target>", None, target
    allowed = set(table.index if candidates is None else candidates)
    if exclude_family:
        family = dataset_family(name)
        allowed = {d for d in allowed if dataset_family(d) != family}
    neighbors = nearest_datasets(
        table.loc[[c for c in table.index if c in allowed]],
        values,
        k=k,
        exclude=[name],
        openml_dids=pool.openml_dids,
        target_did=target_did,
    )
    return compute_warm_start(
        name,
        [dataclasses.replace(n, layer=pool.layers[n.dataset]) for n in neighbors],
        pool.curves_of,
        lrs,
        batch_sizes,
        metric=metric,
        top=top,
        n_portfolio=n_portfolio,
    )


def warm_start(
    store: MetaStore,
    target: str | Mapping[str, float],
    lrs: Sequence[float],
    batch_sizes: Sequence[int],
    *,
    k: int = 5,
    include_snapshot: bool = True,
    snapshot_path: str | Path | None = None,
    candidates: Sequence[str] | None = None,
    exclude_family: bool = False,
    metric: str = "val_accuracy",
    top: int = 3,
    n_portfolio: int = 8,
) -> WarmStart:
    """Warm start for ``target`` from the runs of similar datasets: the snapshot's and the store's.

    The store is layered over the shipped snapshot (`candidate_pool`): a dataset the store
    holds (same label or OpenML id) is served from the store's runs, the others from the
    snapshot's, so an empty store answers from the snapshot.

    Args:
        store: the user's meta-store.
        target: a dataset spec (its own runs and its OpenML twin are left out) or a mapping of
            meta-feature values under OpenML's names.
        lrs: the grid's learning rates.
        batch_sizes: the grid's batch sizes.
        k: neighbours.
        include_snapshot: draw on the shipped snapshot too (``False``: the store alone).
        snapshot_path: a snapshot folder (default: the shipped one).
        candidates: labels allowed as neighbours; ``None``: all.
        exclude_family: also leave out the target's family (its siblings share its data).
        metric: validation metric of the curves.
        top: configurations per neighbour spanning the search box.
        n_portfolio: portfolio length.

    Raises:
        ValueError: when no dataset has both curves and meta-features to compare with (only
            possible with ``include_snapshot=False``).
    """
    pool = candidate_pool(store, include_snapshot=include_snapshot, snapshot_path=snapshot_path)
    if pool.comparable().empty:
        left_out = (
            ""
            if include_snapshot
            else " The shipped snapshot was left out (include_snapshot=False, CLI --no-snapshot); "
            "include it to compare with its datasets."
        )
        raise ValueError(
            "The meta-store has no dataset with both curves and meta-features to compare with "
            f"({len(pool.layers)} with curves). Log curves with MetaStore.log_curves and compute "
            "their meta-features with store_meta_features(store, spec)." + left_out
        )
    return warm_start_from(
        pool, target, lrs, batch_sizes, k=k, candidates=candidates,
        exclude_family=exclude_family, metric=metric, top=top, n_portfolio=n_portfolio,
    )  # fmt: skip


def warm_start_snapshot(
    target: str | Mapping[str, float],
    lrs: Sequence[float],
    batch_sizes: Sequence[int],
    *,
    k: int = 5,
    candidates: Sequence[str] | None = None,
    exclude_family: bool = True,
    metric: str = "val_accuracy",
    top: int = 3,
    n_portfolio: int = 8,
    path: str | Path | None = None,
) -> WarmStart:
    """Warm start for ``target`` from the snapshot alone: no database needed.

    `warm_start_from` on the snapshot's pool, with the target's family left out by default:
    its siblings share its data, so a benchmark would otherwise warm-start from the answer.

    Args:
        target: a dataset spec (its stored meta-features are used if the snapshot has it, else
            they are computed) or meta-feature values under OpenML's names.
        lrs: the grid's learning rates.
        batch_sizes: the grid's batch sizes.
        k: neighbours.
        candidates: datasets allowed as neighbours (e.g. the meta-train part); ``None``: all.
        exclude_family: also leave out the target's family (`dataset_family`).
        metric: validation metric of the curves.
        top: configurations per neighbour spanning the search box.
        n_portfolio: portfolio length.
        path: a snapshot folder (default: the shipped one).

    Example:
        >>> ws = warm_start_snapshot("keel:iris", [1e-3, 1e-2], [16, 32], k=2)
        >>> [n.dataset for n in ws.neighbors if "iris" in n.dataset]
        []
    """
    return warm_start_from(
        candidate_pool(snapshot_path=path), target, lrs, batch_sizes, k=k,
        candidates=candidates, exclude_family=exclude_family, metric=metric, top=top,
        n_portfolio=n_portfolio,
    )  # fmt: skip


@dataclass(frozen=True)
class LayeredStats:
    """What the meta-store reads draw on: each layer's counts and the total.

    Attributes:
        store: the user's store (`MetaStore.stats`).
        snapshot: the shipped snapshot (`snapshot_stats`); ``None`` when left out.
        datasets: distinct datasets of both layers (one both hold, by label or OpenML id,
            counts once).
        runs: runs of both layers.
        epochs: epochs trained, both layers.
    """

    store: StoreStats
    snapshot: SnapshotStats | None
    datasets: int
    runs: int
    epochs: int


def layered_stats(
    store: MetaStore, *, include_snapshot: bool = True, snapshot_path: str | Path | None = None
) -> LayeredStats:
    """Counts of the store, of the snapshot under it and of both (see `LayeredStats`)."""
    mine = store.stats()
    if not include_snapshot:
        return LayeredStats(mine, None, mine.datasets, mine.runs, mine.epochs)
    snapshot = snapshot_stats(snapshot_path)
    table = snapshot_meta_features(snapshot_path)
    stored = store.datasets()
    labels = set(_labels(stored).values())
    dids = {int(d) for d in stored["openml_did"].dropna()}
    shared = sum(
        1
        for name, did in table["openml_did"].items()
        if str(name) in labels or (not pd.isna(did) and int(did) in dids)
    )
    return LayeredStats(
        store=mine,
        snapshot=snapshot,
        datasets=mine.datasets + snapshot.datasets - shared,
        runs=mine.runs + snapshot.runs,
        epochs=mine.epochs + snapshot.epochs,
    )
