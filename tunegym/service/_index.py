"""The service's in-memory index of past runs: per dataset, its qualities and config table.

Built once at start-up from the shipped snapshot and/or a meta-store, then kept current as
tuners report runs. A request only touches numpy arrays and short lists: finding neighbours
is one vectorised L1 distance over the candidates (the same definition as
`tunegym.metastore.nearest_datasets`, which a test checks), so ``/v1/warmstart`` answers in
about a millisecond.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
from sqlalchemy import select

from tunegym.metastore import MetaStore, Neighbor, snapshot_meta_features
from tunegym.metastore._schema import Dataset, Evaluation, Run, Setup, Task
from tunegym.metastore._values import ENV_FEATURE_PREFIX, EPOCH_MEASURES, DataSplit
from tunegym.service._schemas import BATCH_KEYS, LR_KEYS

__all__ = ["ConfigStats", "DatasetEntry", "WarmStartIndex"]

_IDENTITY: Final = ("openml_did", "family", "part")
MIN_SHARED: Final = 1 / 3  # share of the target's qualities a neighbour must have too

Origin = Literal["snapshot", "store"]


@dataclass(frozen=True)
class ConfigStats:
    """One (learning rate, batch size) of a dataset: its scores, mean over seeds.

    Attributes:
        lr: learning rate.
        batch_size: batch size.
        epochs: the epoch with the best mean score.
        best: that best mean score.
        final: the mean final score (each seed's last epoch).
        expected: ``final`` scaled to [0, 1] between the dataset's worst and best config.
        seeds: the seeds behind it.
        run_ids: the meta-store runs behind it (empty for the snapshot).
        curve: mean score per epoch (1, 2, ...).
        origin: where it was read from.
    """

    lr: float
    batch_size: int
    epochs: int
    best: float
    final: float
    expected: float
    seeds: tuple[int, ...]
    run_ids: tuple[int, ...]
    curve: tuple[float, ...]
    origin: Origin


@dataclass
class DatasetEntry:
    """A dataset of the index: qualities and configurations (best first)."""

    name: str
    openml_did: int | None
    features: dict[str, float] = field(default_factory=dict)
    configs: tuple[ConfigStats, ...] = ()

    @property
    def candidate(self) -> bool:
        """Whether it can be a neighbour: it has both qualities and scored configurations."""
        return bool(self.features) and bool(self.configs)


def config_table(curves: pd.DataFrame, metric: str, origin: Origin) -> dict[str, list[ConfigStats]]:
    """Per dataset, its `ConfigStats` (best first) from a long curve table.

    ``curves`` has columns dataset, lr, batch_size, seed, epoch, ``metric`` and optionally
    run_id. Epochs with a non-finite score are dropped; a config left without scores is too.
    Vectorised: the 540,000 rows of the shipped snapshot take well under a second.
    """
    frame = pd.DataFrame(
        {
            "dataset": curves["dataset"].astype(str).to_numpy(),
            "lr": curves["lr"].to_numpy(dtype=np.float64),
            "batch_size": curves["batch_size"].to_numpy(dtype=np.int64),
            "seed": curves["seed"].to_numpy(dtype=np.int64),
            "epoch": curves["epoch"].to_numpy(dtype=np.int64),
            "score": curves[metric].to_numpy(dtype=np.float64),
            "run_id": curves["run_id"].to_numpy(dtype=np.int64) if "run_id" in curves else -1,
        }
    )
    frame = frame[np.isfinite(frame["score"].to_numpy())]
    if frame.empty:
        return {}
    keys = ["dataset", "lr", "batch_size"]
    # Every table below is sorted by the config keys, so they line up row for row.
    mean = frame.groupby([*keys, "epoch"], sort=True)["score"].mean().reset_index()
    starts = _starts(mean, keys)
    last = frame.sort_values([*keys, "seed", "epoch"]).drop_duplicates([*keys, "seed"], keep="last")
    final = last.groupby(keys, sort=True)["score"].mean().to_numpy()
    seeds = frame[[*keys, "seed"]].drop_duplicates().sort_values([*keys, "seed"])
    runs = frame[[*keys, "run_id"]].drop_duplicates().sort_values([*keys, "run_id"])
    seed_starts, run_starts = _starts(seeds, keys), _starts(runs, keys)
    values, epochs = mean["score"].to_numpy(), mean["epoch"].to_numpy()
    seed_values, run_values = seeds["seed"].to_numpy(), runs["run_id"].to_numpy()
    names, lrs, sizes = (mean[k].to_numpy() for k in keys)
    out: dict[str, list[ConfigStats]] = {}
    for i in range(len(starts) - 1):
        a, b = starts[i], starts[i + 1]
        curve = values[a:b]
        best_at = int(np.argmax(curve))
        out.setdefault(str(names[a]), []).append(
            ConfigStats(
                lr=float(lrs[a]),
                batch_size=int(sizes[a]),
                epochs=int(epochs[a + best_at]),
                best=float(curve[best_at]),
                final=float(final[i]),
                expected=0.0,
                seeds=tuple(int(v) for v in seed_values[seed_starts[i] : seed_starts[i + 1]]),
                run_ids=tuple(
                    int(v) for v in run_values[run_starts[i] : run_starts[i + 1]] if v >= 0
                ),
                curve=tuple(curve.tolist()),
                origin=origin,
            )
        )
    return {name: _ranked(configs) for name, configs in out.items()}


def _starts(table: pd.DataFrame, keys: Sequence[str]) -> np.ndarray:
    """Row positions where a new config starts in a table sorted by ``keys``, and its length."""
    changed = np.zeros(len(table), dtype=bool)
    changed[0] = True
    for key in keys:
        column = table[key].to_numpy()
        changed[1:] |= column[1:] != column[:-1]
    return np.append(np.flatnonzero(changed), len(table))


def _ranked(configs: Iterable[ConfigStats]) -> list[ConfigStats]:
    """Best first (final, then best score), each with its normalised ``expected`` score."""
    configs = sorted(configs, key=lambda c: (-c.final, -c.best, c.lr, c.batch_size))
    if not configs:
        return []
    low, high = min(c.final for c in configs), max(c.final for c in configs)
    scale = (lambda v: (v - low) / (high - low)) if high > low else (lambda v: 1.0)
    return [ConfigStats(**{**c.__dict__, "expected": float(scale(c.final))}) for c in configs]


def _did(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _clean(values: Mapping[Any, Any]) -> dict[str, float]:
    """Finite float qualities without tunegym's env-only features."""
    out: dict[str, float] = {}
    for name, value in values.items():
        if str(name).startswith(ENV_FEATURE_PREFIX) or name in _IDENTITY or value is None:
            continue
        number = float(value)
        if math.isfinite(number):
            out[str(name)] = number
    return out


def _usable(lr: Any, batch_size: Any) -> bool:
    """Whether a stored run's values can be served: a positive learning rate, a batch size >= 1."""
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lr, batch_size))
    return (
        numbers and math.isfinite(lr) and lr > 0 and math.isfinite(batch_size) and batch_size >= 1
    )


def _param(params: Mapping[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        if key in params:
            return params[key]
    return None


class WarmStartIndex:
    """Datasets, their qualities and their config tables, with a vectorised neighbour search.

    Thread-safe: readers take a consistent snapshot of the candidate arrays; `update` rebuilds
    them under a lock.
    """

    def __init__(self, metric: str = "val_accuracy") -> None:
        if metric not in EPOCH_MEASURES:
            raise ValueError(f"Unknown metric {metric!r}; one of {sorted(EPOCH_MEASURES)}.")
        self.metric = metric
        self._lock = threading.Lock()
        self._entries: dict[str, DatasetEntry] = {}
        self._arrays: tuple[list[str], list[str], np.ndarray] = ([], [], np.zeros((0, 0)))

    # --- building ---------------------------------------------------------------------------

    @classmethod
    def from_snapshot(cls, path: str | None = None, metric: str = "val_accuracy") -> WarmStartIndex:
        """The index of a snapshot folder (default: the one shipped with tunegym)."""
        from tunegym.metastore import load_snapshot

        index = cls(metric)
        table = snapshot_meta_features(path)
        configs = config_table(load_snapshot(path=path), metric, "snapshot")
        for name, row in table.iterrows():
            index._entries[str(name)] = DatasetEntry(
                name=str(name),
                openml_did=_did(row.get("openml_did")),
                features=_clean(row.to_dict()),
                configs=tuple(configs.get(str(name), ())),
            )
        index._rebuild()
        return index

    def add_store(self, store: MetaStore) -> int:
        """Add (or replace) every dataset of ``store`` that has scored runs; return how many.

        A dataset also in the index (same name or OpenML id) keeps the union of both sides'
        configurations, the store's replacing the snapshot's where they coincide; one joined by
        OpenML id keeps the index's name (``keel:iris`` runs join ``sklearn:iris``).
        """
        curves, labels, dids = _store_curves(store, self.metric)
        features = store.meta_features()
        with self._lock:
            joined: dict[str, DatasetEntry] = {}
            for dataset_id, label in labels.items():
                entry = joined[label] = self._entry(label, dids.get(dataset_id))
                if dataset_id in features.index:
                    entry.features.update(_clean(features.loc[dataset_id].to_dict()))
            for label, configs in config_table(curves, self.metric, "store").items():
                self._merge(joined[label], configs)
            self._rebuild()
        return len(labels)

    def update(
        self,
        name: str,
        openml_did: int | None,
        features: Mapping[str, float] | None,
        curves: pd.DataFrame | None,
    ) -> DatasetEntry:
        """Add reported runs (a long curve table of one dataset) and/or qualities."""
        with self._lock:
            entry = self._entry(name, openml_did)
            if features:
                entry.features.update(_clean(features))
            if curves is not None and not curves.empty:
                table = config_table(curves.assign(dataset=entry.name), self.metric, "store")
                self._merge(entry, table.get(entry.name, []))
            self._rebuild()
            return entry

    def _entry(self, name: str, openml_did: int | None) -> DatasetEntry:
        found = self._entries.get(name) or (
            self.by_did(openml_did) if openml_did is not None else None
        )
        if found is None:
            found = self._entries[name] = DatasetEntry(name=name, openml_did=openml_did)
        elif found.openml_did is None and openml_did is not None:
            found.openml_did = openml_did
        return found

    @staticmethod
    def _merge(entry: DatasetEntry, configs: Iterable[ConfigStats]) -> None:
        merged = {(c.lr, c.batch_size): c for c in entry.configs}
        for config in configs:
            old = merged.get((config.lr, config.batch_size))
            if old is not None and old.origin == "store" and config.origin == "store":
                config = _combined(old, config)
            merged[(config.lr, config.batch_size)] = config
        entry.configs = tuple(_ranked(merged.values()))

    def _rebuild(self) -> None:
        candidates = sorted(n for n, e in self._entries.items() if e.candidate)
        columns = sorted({q for n in candidates for q in self._entries[n].features})
        matrix = np.full((len(candidates), len(columns)), np.nan)
        position = {c: j for j, c in enumerate(columns)}
        for i, name in enumerate(candidates):
            for quality, value in self._entries[name].features.items():
                matrix[i, position[quality]] = value
        self._arrays = (candidates, columns, matrix)

    # --- reading ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        """Every dataset's name."""
        return sorted(self._entries)

    def get(self, name: str) -> DatasetEntry | None:
        """The dataset called ``name``, if any."""
        return self._entries.get(name)

    def by_did(self, openml_did: int) -> DatasetEntry | None:
        """The dataset with this OpenML id, if any (a candidate first)."""
        # list() copies in one C call: safe while another thread adds a dataset.
        found = [e for e in list(self._entries.values()) if e.openml_did == openml_did]
        found.sort(key=lambda e: (not e.candidate, e.name))
        return found[0] if found else None

    def counts(self) -> tuple[int, int, int]:
        """(candidate datasets, configurations, runs or seeds behind them)."""
        entries = [e for e in list(self._entries.values()) if e.candidate]
        configs = sum(len(e.configs) for e in entries)
        runs = sum(max(len(c.run_ids), len(c.seeds)) for e in entries for c in e.configs)
        return len(entries), configs, runs

    def neighbors(
        self,
        values: Mapping[str, float],
        k: int,
        *,
        exclude: Sequence[str] = (),
        exclude_did: int | None = None,
    ) -> list[tuple[Neighbor, DatasetEntry]]:
        """The ``k`` candidates nearest to ``values`` (see `tunegym.metastore.nearest_datasets`).

        Distances are `nearest_datasets`' (L1 on qualities min-max scaled over the candidates
        and the target, averaged over the qualities both sides have). Two differences, both
        about thin evidence: a candidate sharing fewer than `MIN_SHARED` of the target's
        qualities is dropped after scoring (one shared quality — a reported dataset with only
        its size — is no basis for "similar"); and a candidate whose shared qualities are all
        constant (a lone candidate, say) is at distance 0 — equal on everything compared —
        where `nearest_datasets` says ``inf``.

        Raises:
            ValueError: when ``values`` share no finite quality with the candidates.
        """
        candidates, columns, matrix = self._arrays
        target = {q: float(v) for q, v in values.items() if math.isfinite(float(v))}
        cols = [j for j, q in enumerate(columns) if q in target]
        if not cols:
            known = ", ".join(columns[:8])
            raise ValueError(
                "The dataset's meta-features share no quality with the stored datasets; send "
                f"OpenML quality names such as {known}, ... (tunegym.metastore."
                "compute_meta_features computes all of them)."
            )
        excluded = set(exclude)
        keep = [
            i
            for i, name in enumerate(candidates)
            if name not in excluded
            and (exclude_did is None or self._entries[name].openml_did != exclude_did)
        ]
        if not keep:
            return []
        part = matrix[np.ix_(keep, cols)]
        t = np.array([target[columns[j]] for j in cols])
        both = np.vstack([part, t])
        with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            low, high = np.nanmin(both, axis=0), np.nanmax(both, axis=0)
            span = np.where(high - low > 0, high - low, np.nan)
            distance = np.nanmean(np.abs((part - low) / span - (t - low) / span), axis=1)
        shared = np.sum(~np.isnan(part), axis=1)
        distance = np.where(np.isnan(distance) & (shared > 0), 0.0, distance)
        enough = shared >= max(1, math.ceil(MIN_SHARED * len(cols)))
        order = sorted(
            (float(d), candidates[i])
            for d, i, ok in zip(distance, keep, enough, strict=True)
            if ok and math.isfinite(d)
        )
        return [
            (Neighbor(name, d, self._entries[name].openml_did), self._entries[name])
            for d, name in order[:k]
        ]


def _combined(a: ConfigStats, b: ConfigStats) -> ConfigStats:
    """Two store-side stats of one config (new runs reported): a seed-weighted mean."""
    na, nb = max(len(a.seeds), 1), max(len(b.seeds), 1)
    length = max(len(a.curve), len(b.curve))
    curve = [
        np.average(
            [c[e] for c in (a.curve, b.curve) if e < len(c)],
            weights=[n for c, n in ((a.curve, na), (b.curve, nb)) if e < len(c)],
        )
        for e in range(length)
    ]
    best_at = int(np.argmax(curve))
    return ConfigStats(
        lr=a.lr,
        batch_size=a.batch_size,
        epochs=best_at + 1,
        best=float(curve[best_at]),
        final=float((a.final * na + b.final * nb) / (na + nb)),
        expected=0.0,
        seeds=tuple(sorted({*a.seeds, *b.seeds})),
        run_ids=tuple(sorted({*a.run_ids, *b.run_ids})),
        curve=tuple(float(v) for v in curve),
        origin="store",
    )


def _store_curves(
    store: MetaStore, metric: str
) -> tuple[pd.DataFrame, dict[int, str], dict[int, int | None]]:
    """Every run of the store with a learning rate and batch size, as a long curve table.

    Runs with only a final value (epoch NULL) count as a one-epoch curve.
    """
    measure, split = EPOCH_MEASURES[metric]
    query = (
        select(Task.dataset_id, Run.id, Run.seed, Setup.params, Evaluation.epoch, Evaluation.value)
        .join(Run, Run.id == Evaluation.run_id)
        .join(Setup, Setup.id == Run.setup_id)
        .join(Task, Task.id == Run.task_id)
        .where(Evaluation.measure == measure, Evaluation.split == DataSplit(split))
    )
    rows: list[tuple[int, float, int, int, int, float, int]] = []
    finals: dict[int, tuple[int, float, int, int, float]] = {}
    with_epochs: set[int] = set()
    with store.engine.connect() as connection:
        for dataset_id, run_id, seed, params, epoch, value in connection.execute(query):
            lr, bs = _param(params or {}, LR_KEYS), _param(params or {}, BATCH_KEYS)
            if not _usable(lr, bs) or value is None:
                continue
            if epoch is None:
                finals[run_id] = (dataset_id, float(lr), int(bs), seed, float(value))
            else:
                with_epochs.add(run_id)
                rows.append((dataset_id, float(lr), int(bs), seed, epoch, float(value), run_id))
        rows += [
            (d, lr, bs, s, 1, v, r)
            for r, (d, lr, bs, s, v) in finals.items()
            if r not in with_epochs
        ]
        datasets = connection.execute(
            select(Dataset.id, Dataset.spec, Dataset.name, Dataset.openml_did)
        ).all()
    labels = {i: spec or name for i, spec, name, _ in datasets}
    dids = {i: did for i, _, _, did in datasets}
    frame = pd.DataFrame(
        rows, columns=["dataset_id", "lr", "batch_size", "seed", "epoch", metric, "run_id"]
    )
    frame["dataset"] = frame["dataset_id"].map(labels)
    used = set(frame["dataset_id"].unique())
    return frame, {i: labels[i] for i in used}, dids
