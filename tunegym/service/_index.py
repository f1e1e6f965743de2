"""The service's in-memory index of past runs: per dataset, its qualities and config tables.

Built once at start-up from the shipped snapshots and/or a meta-store, then kept current as
tuners report runs. What tuners report (runs and qualities of source ``reported``) is kept
apart from the curated data (the snapshots, the store's own runs, OpenML's qualities): every
read takes ``include_reported``, and by default sees the curated data alone, so that a few
reported runs cannot change what is served. A dataset keeps one config table per space (`tunegym.service._tables`
holds the tables, their spaces and how both are built), so configurations of different spaces
never mix. A request only touches numpy arrays and short lists: finding neighbours is one
vectorised L1 distance over the candidates of one space (the same definition as
`tunegym.metastore.nearest_datasets`, which a test checks), so ``/v1/warmstart`` answers in
about a millisecond.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
from sqlalchemy import select

from tunegym.metastore import (
    LCBENCH_SNAPSHOT_DIR,
    SNAPSHOT_DIR,
    MetaStore,
    Neighbor,
    snapshot_meta_features,
)
from tunegym.metastore._schema import Dataset, Evaluation, Flow, Run, Setup, Task
from tunegym.metastore._values import (
    ENV_FEATURE_PREFIX,
    EPOCH_MEASURES,
    DataSplit,
    MetaFeatureSource,
    Source,
    config_columns,
)
from tunegym.service._tables import (
    GRID_SPACE,
    LCBENCH_KEY,
    DatasetEntry,
    Origin,
    SpaceKey,
    StoredSpace,
    Value,
    config_table,
    largest_space,
    space_key,
    space_name,
    stored_values,
)

__all__ = ["WarmStartIndex", "shipped_snapshots"]

_IDENTITY: Final = ("openml_did", "family", "part")
_Arrays = tuple[list[str], list[str], np.ndarray]
MIN_SHARED: Final = 1 / 3  # share of the target's qualities a neighbour must have too


def shipped_snapshots() -> list[Path]:
    """The meta-dataset snapshots installed with tunegym: v1, then v2 when it is installed."""
    folders = [SNAPSHOT_DIR]
    if (LCBENCH_SNAPSHOT_DIR / "manifest.json").exists():
        folders.append(LCBENCH_SNAPSHOT_DIR)
    return folders


def _snapshot_label(folder: Path) -> str:
    """``v1``/``v2`` for the shipped meta-datasets, ``snapshot`` for another folder."""
    resolved = folder.resolve()
    if resolved == SNAPSHOT_DIR.resolve():
        return "v1"
    if resolved == LCBENCH_SNAPSHOT_DIR.resolve():
        return "v2"
    return "snapshot"


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


class WarmStartIndex:
    """Datasets, their qualities and their config tables, with a vectorised neighbour search.

    Two views of it: the curated data alone (``include_reported=False``, the default of every
    read) and the curated data with what tuners reported (``True``); spaces, candidates and
    their arrays are kept for each.

    Thread-safe: readers take a consistent snapshot of the candidate arrays; `update` rebuilds
    them under a lock.
    """

    def __init__(self, metric: str = "val_accuracy") -> None:
        if metric not in EPOCH_MEASURES:
            raise ValueError(f"Unknown metric {metric!r}; one of {sorted(EPOCH_MEASURES)}.")
        self.metric = metric
        self._lock = threading.Lock()
        self._entries: dict[str, DatasetEntry] = {}
        # The spaces each view holds: reported runs join the second view's only.
        self._spaces: dict[bool, dict[SpaceKey, StoredSpace]] = {False: {}, True: {}}
        empty: _Arrays = ([], [], np.zeros((0, 0)))
        self._arrays: dict[tuple[SpaceKey | None, bool], _Arrays] = {
            (None, False): empty,
            (None, True): empty,
        }

    # --- building ---------------------------------------------------------------------------

    @classmethod
    def from_snapshot(
        cls, path: str | Path | None = None, metric: str = "val_accuracy"
    ) -> WarmStartIndex:
        """The index of a snapshot folder, or (``None``) of the snapshots shipped with tunegym:
        meta-dataset v1 and, when it is installed, v2 (`shipped_snapshots`)."""
        folders = shipped_snapshots() if path is None else [Path(path)]
        return cls.from_snapshots(folders, metric)

    @classmethod
    def from_snapshots(
        cls, paths: Sequence[str | Path], metric: str = "val_accuracy"
    ) -> WarmStartIndex:
        """The index of several snapshot folders (see `add_snapshot`), in this order."""
        index = cls(metric)
        for path in paths:
            index.add_snapshot(path)
        return index

    def add_snapshot(self, path: str | Path) -> int:
        """Add a snapshot folder's datasets and configurations; return how many datasets.

        Its configurations form the table of its space (its curves' configuration columns). A
        dataset already in the index (same name or OpenML id) keeps its qualities — those of
        the snapshot read first, so a second meta-dataset never moves the neighbours of the
        first — and gains the snapshot's qualities only when it has none.

        Raises:
            FileNotFoundError: for a folder without a snapshot.
            ValueError: for configurations without a learning rate or a batch size.
        """
        from tunegym.metastore import load_snapshot

        folder = Path(path)
        table = snapshot_meta_features(folder)
        curves = load_snapshot(path=folder)
        columns = config_columns(curves)
        key = space_key(columns)
        configs = config_table(curves, self.metric, "snapshot", columns)
        flow = (curves.attrs.get("tunegym", {}).get("flow") or {}).get("name")
        with self._lock:
            self._join_space(key, _snapshot_label(folder), [flow] if flow else [])
            for name, row in table.iterrows():
                entry = self._entry(str(name), _did(row.get("openml_did")))
                if not entry.features:
                    entry.features.update(_clean(row.to_dict()))
                if str(name) in configs:
                    entry.merge(key, configs[str(name)], reported=False)
            self._rebuild()
        return len(table)

    def add_store(self, store: MetaStore) -> int:
        """Add (or replace) every dataset of ``store`` that has scored runs; return how many.

        A dataset also in the index (same name or OpenML id) keeps the union of both sides'
        configurations, the store's replacing the snapshot's where they coincide; one joined by
        OpenML id keeps the index's name (``keel:iris`` runs join ``sklearn:iris``). A run
        belongs to the largest known space whose hyperparameters it has all of (`space_of`).
        Runs and qualities of source ``reported`` (sent through the service) go to the
        reported side, the others (collected, imported, OpenML's) to the curated one.
        """
        with self._lock:
            known = self._known_spaces()
        tables, labels, dids, flows = _store_curves(store, self.metric, known)
        curated = store.meta_features(MetaFeatureSource.OPENML).combine_first(
            store.meta_features(MetaFeatureSource.COMPUTED)
        )
        reported = store.meta_features(MetaFeatureSource.REPORTED)
        with self._lock:
            joined: dict[str, DatasetEntry] = {}
            for dataset_id, label in labels.items():
                entry = joined[label] = self._entry(label, dids.get(dataset_id))
                if dataset_id in curated.index:
                    entry.features.update(_clean(curated.loc[dataset_id].to_dict()))
                if dataset_id in reported.index:
                    entry.reported_features.update(_clean(reported.loc[dataset_id].to_dict()))
            for (key, by_tuners), curves in tables.items():
                origin: Origin = "reported" if by_tuners else "store"
                self._join_space(key, origin, flows.get((key, by_tuners), ()), by_tuners)
                for label, configs in config_table(curves, self.metric, origin, key).items():
                    joined[label].merge(key, configs, reported=by_tuners)
            self._rebuild()
        return len(labels)

    def update(
        self,
        name: str,
        openml_did: int | None,
        features: Mapping[str, float] | None,
        curves: pd.DataFrame | None,
        *,
        flow: str | None = None,
        reported: bool = False,
    ) -> DatasetEntry:
        """Add runs (a long curve table of one dataset, in one space) and/or qualities.

        The table's configuration columns (``lr`` and ``batch_size``, or LCBench's seven, ...)
        name its space; ``flow`` is the flow that recorded the runs. ``reported``: they were
        reported by a tuner (the reported side), else curated (the store's own, OpenML's).
        """
        origin: Origin = "reported" if reported else "store"
        with self._lock:
            entry = self._entry(name, openml_did)
            if features:
                side = entry.reported_features if reported else entry.features
                side.update(_clean(features))
            if curves is not None and not curves.empty:
                columns = config_columns(curves.drop(columns="dataset", errors="ignore"))
                key = space_key(columns)
                table = config_table(curves.assign(dataset=entry.name), self.metric, origin)
                self._join_space(key, origin, [flow] if flow else [], reported)
                entry.merge(key, table.get(entry.name, []), reported=reported)
            self._rebuild()
            return entry

    def space_of(self, names: Collection[str]) -> SpaceKey:
        """The space a run with these hyperparameters (index names) belongs to.

        The largest known space (meta-dataset v1's and v2's always, plus those the index holds)
        whose hyperparameters it has all of: a run with LCBench's seven (and more) is LCBench's,
        one with a learning rate and a batch size only (or a few more) is the grid's.

        Example:
            >>> WarmStartIndex().space_of(["batch_size", "learning_rate", "momentum"])
            ('batch_size', 'learning_rate')
        """
        return largest_space(self._known_spaces(), names)

    def _known_spaces(self) -> list[SpaceKey]:
        return sorted({GRID_SPACE, LCBENCH_KEY, *list(self._spaces[True])})

    def _join_space(
        self, key: SpaceKey, meta_dataset: str, flows: Iterable[str], reported: bool = False
    ) -> None:
        """Record where ``key``'s configurations come from, in the views that see them."""
        flows = list(flows)
        for view in (True,) if reported else (False, True):
            spaces = self._spaces[view]
            space = spaces.get(key) or StoredSpace(key, space_name(key))
            spaces[key] = space.joined(meta_dataset, flows)

    def _entry(self, name: str, openml_did: int | None) -> DatasetEntry:
        found = self._entries.get(name) or (
            self.by_did(openml_did) if openml_did is not None else None
        )
        if found is None:
            found = self._entries[name] = DatasetEntry(name=name, openml_did=openml_did)
        elif found.openml_did is None and openml_did is not None:
            found.openml_did = openml_did
        return found

    def _rebuild(self) -> None:
        """The candidates' quality arrays, per view: of all of them (key ``None``) and of each
        space.

        A space's are the rows of its candidates and the qualities at least one of them has,
        exactly the arrays of an index holding that space alone.
        """
        entries = list(self._entries.items())
        arrays: dict[tuple[SpaceKey | None, bool], _Arrays] = {}
        for view in (False, True):
            candidates = sorted(n for n, e in entries if e.is_candidate(view))
            qualities = [self._entries[n].qualities(view) for n in candidates]
            columns = sorted({q for values in qualities for q in values})
            matrix = np.full((len(candidates), len(columns)), np.nan)
            position = {c: j for j, c in enumerate(columns)}
            for i, values in enumerate(qualities):
                for quality, value in values.items():
                    matrix[i, position[quality]] = value
            arrays[None, view] = (candidates, columns, matrix)
            spaces = self._spaces[view]
            for key, space in list(spaces.items()):
                rows = [i for i, n in enumerate(candidates) if self._entries[n].table(key, view)]
                part = matrix[rows]
                cols = np.flatnonzero(~np.isnan(part).all(axis=0)) if rows else np.zeros(0, int)
                arrays[key, view] = (
                    [candidates[i] for i in rows],
                    [columns[j] for j in cols],
                    part[:, cols],
                )
                spaces[key] = replace(space, candidates=len(rows))
        self._arrays = arrays

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

    def spaces(self, include_reported: bool = False) -> list[StoredSpace]:
        """The spaces the index holds configurations of (meta-dataset v1's first): those of
        curated data, or (``include_reported``) of reported runs too."""
        spaces = list(self._spaces[include_reported].values())
        return sorted(spaces, key=lambda s: (s.hyperparameters != GRID_SPACE, s.hyperparameters))

    def space(self, key: Sequence[str], include_reported: bool = False) -> StoredSpace | None:
        """The space of these hyperparameters (a `StoredSpace.hyperparameters`), if held."""
        return self._spaces[include_reported].get(tuple(key))

    def counts(self) -> tuple[int, int, int]:
        """(candidate datasets, configurations, runs or seeds behind them), over every space,
        reported runs included."""
        entries = [e for e in list(self._entries.values()) if e.is_candidate(True)]
        configs = [c for e in entries for t in list(e.pooled.values()) for c in t]
        runs = sum(max(len(c.run_ids), len(c.seeds)) for c in configs)
        return len(entries), len(configs), runs

    def reported_runs(self) -> int:
        """The reported runs (or seeds) behind the index's reported configurations."""
        entries = list(self._entries.values())
        return sum(
            max(len(c.run_ids), len(c.seeds))
            for e in entries
            for t in list(e.reported.values())
            for c in t
        )

    def neighbors(
        self,
        values: Mapping[str, float],
        k: int,
        *,
        exclude: Sequence[str] = (),
        exclude_did: int | None = None,
        space: Sequence[str] | None = None,
        include_reported: bool = False,
    ) -> list[tuple[Neighbor, DatasetEntry]]:
        """The ``k`` candidates nearest to ``values`` (see `tunegym.metastore.nearest_datasets`).

        Distances are `nearest_datasets`' (L1 on qualities min-max scaled over the candidates
        and the target, averaged over the qualities both sides have). Two differences, both
        about thin evidence: a candidate sharing fewer than `MIN_SHARED` of the target's
        qualities is dropped after scoring (one shared quality — a reported dataset with only
        its size — is no basis for "similar"); and a candidate whose shared qualities are all
        constant (a lone candidate, say) is at distance 0 — equal on everything compared —
        where `nearest_datasets` says ``inf``.

        Args:
            values: the target's qualities.
            k: how many.
            exclude: names to leave out.
            exclude_did: an OpenML id to leave out.
            space: only the candidates with configurations in this space (a
                `StoredSpace.hyperparameters`), scaled among themselves; ``None``: all.
            include_reported: candidates on reported runs and qualities too (else curated
                data only).

        Raises:
            ValueError: when ``values`` share no finite quality with the candidates (there are
                some).
        """
        empty: _Arrays = ([], [], np.zeros((0, 0)))
        key = None if space is None else tuple(space)
        candidates, columns, matrix = self._arrays.get((key, include_reported), empty)
        if not candidates:  # nothing to compare with: no neighbours, not a bad request
            return []
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


# A store-side table: its space, and whether tuners reported its runs.
_Part = tuple[SpaceKey, bool]


def _store_curves(
    store: MetaStore, metric: str, known: Sequence[SpaceKey]
) -> tuple[
    dict[_Part, pd.DataFrame],
    dict[int, str],
    dict[int, int | None],
    dict[_Part, set[str]],
]:
    """Every run of the store with a learning rate and batch size, as long curve tables.

    One table per space (`WarmStartIndex.space_of`: the largest of ``known`` whose names the
    run has) and per side (runs reported through the service, the others), with that space's
    names as configuration columns. Runs with only a final value (epoch NULL) count as a
    one-epoch curve.

    Returns:
        ((space, reported) -> curve table, dataset id -> label, dataset id -> OpenML id,
        (space, reported) -> names of the flows of its runs).
    """
    measure, split = EPOCH_MEASURES[metric]
    query = (
        select(
            Task.dataset_id, Run.id, Run.seed, Run.source, Setup.params, Flow.name,
            Evaluation.epoch, Evaluation.value,
        )
        .join(Run, Run.id == Evaluation.run_id)
        .join(Setup, Setup.id == Run.setup_id)
        .join(Flow, Flow.id == Setup.flow_id)
        .join(Task, Task.id == Run.task_id)
        .where(Evaluation.measure == measure, Evaluation.split == DataSplit(split))
    )  # fmt: skip
    # Per run: its table and its values there (a run's params are parsed once, not per epoch).
    configs: dict[int, tuple[_Part, tuple[Value, ...]] | None] = {}
    rows: dict[_Part, list[tuple[Any, ...]]] = {}
    finals: dict[int, tuple[_Part, tuple[Any, ...]]] = {}
    with_epochs: set[int] = set()
    flows: dict[_Part, set[str]] = {}
    with store.engine.connect() as connection:
        for dataset_id, run_id, seed, source, params, flow, epoch, value in connection.execute(
            query
        ):
            if run_id not in configs:
                values = stored_values(params or {})
                configs[run_id] = None
                if values is not None:
                    space = largest_space(known, values)
                    part = (space, source == Source.REPORTED)
                    configs[run_id] = (part, tuple(values[n] for n in space))
                    flows.setdefault(part, set()).add(flow)
            config = configs[run_id]
            if config is None or value is None:
                continue
            key, settings = config
            if epoch is None:
                finals[run_id] = (key, (dataset_id, *settings, seed, 1, float(value), run_id))
            else:
                with_epochs.add(run_id)
                row = (dataset_id, *settings, seed, epoch, float(value), run_id)
                rows.setdefault(key, []).append(row)
        for run_id, (key, row) in finals.items():
            if run_id not in with_epochs:
                rows.setdefault(key, []).append(row)
        datasets = connection.execute(
            select(Dataset.id, Dataset.spec, Dataset.name, Dataset.openml_did)
        ).all()
    labels = {i: spec or name for i, spec, name, _ in datasets}
    dids = {i: did for i, _, _, did in datasets}
    tables: dict[_Part, pd.DataFrame] = {}
    used: set[int] = set()
    for (space, reported), found in rows.items():
        columns = ["dataset_id", *space, "seed", "epoch", metric, "run_id"]
        frame = pd.DataFrame(found, columns=columns)
        frame["dataset"] = frame["dataset_id"].map(labels)
        used |= set(frame["dataset_id"].unique())
        tables[space, reported] = frame.drop(columns="dataset_id")
    return tables, {i: labels[i] for i in sorted(used)}, dids, flows
