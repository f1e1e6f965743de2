"""Write what the importers read (OpenML, LCDB) into a `MetaStore`.

The readers in `tunegym.metastore.importers` yield plain rows; this module maps them onto the
store's OpenML-shaped entities:

* OpenML and LCDB qualities become meta-features with source ``openml`` (both are OpenML's
  published values), on a dataset identified by its OpenML id.
* An OpenML run of an MLP flow becomes a run of that flow (``openml_flow_id`` kept) on the
  OpenML task, with its setup's hyperparameters and its final measure (split ``test``: OpenML
  measures runs on the task's test folds); runs already stored (same OpenML run id) are skipped.
* An LCDB learning-curve point becomes a run of the flow ``lcdb:<learner>`` whose setup holds the
  training-set size (``anchor``) — LCDB's fidelity, where tunegym's own curves use epochs — on a
  hold-out task seeded by LCDB's outer split, with train/val/test accuracy as final values.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from tunegym.metastore._schema import Run
from tunegym.metastore._store import MetaStore
from tunegym.metastore._values import (
    DatasetRef,
    DataSplit,
    EvaluationRow,
    MetaFeatureSource,
    Procedure,
    RunRecord,
    RunStatus,
    SetupRef,
    Source,
    SplitSpec,
    TaskRef,
)
from tunegym.metastore.importers import OpenMLQuality

__all__ = ["ImportSummary", "import_lcdb", "import_openml", "import_qualities"]

_LCDB_MEASURES = {
    "accuracy": "predictive_accuracy",
    "auc": "area_under_roc_curve",
    "f1": "f_measure",
}


@dataclass(frozen=True)
class ImportSummary:
    """What an import added."""

    datasets: int = 0
    qualities: int = 0
    runs: int = 0
    skipped_runs: int = 0


def import_qualities(store: MetaStore, rows: Iterable[OpenMLQuality]) -> ImportSummary:
    """Store published quality rows (OpenML's or LCDB's copy of them) as OpenML meta-features."""
    by_dataset: dict[tuple[int, str], dict[str, float | None]] = {}
    for row in rows:
        by_dataset.setdefault((row.openml_did, row.dataset_name), {})[row.quality] = row.value
    for (did, name), values in by_dataset.items():
        dataset = store.get_or_create_dataset(name, openml_did=did, source=Source.OPENML)
        store.set_meta_features(dataset, values, source=MetaFeatureSource.OPENML)
    return ImportSummary(datasets=len(by_dataset), qualities=sum(map(len, by_dataset.values())))


def _stored_openml_runs(store: MetaStore) -> set[int]:
    query = select(Run.openml_run_id).where(Run.openml_run_id.is_not(None))
    with store.engine.connect() as connection:
        return {int(r) for (r,) in connection.execute(query) if r is not None}


def import_openml(
    store: MetaStore,
    *,
    dids: Iterable[int] = (),
    flows: Iterable[int] | None = None,
    tasks: Iterable[int] | None = None,
    max_runs: int | None = None,
    cache_dir: str | Path | None = None,
) -> ImportSummary:
    """Import OpenML qualities of ``dids`` and past runs of MLP flows into ``store``.

    Args:
        store: where to write.
        dids: datasets whose published qualities to import.
        flows: OpenML flow ids of MLP flows; ``None`` finds every ``MLPClassifier`` flow.
        tasks: restrict runs to these OpenML tasks.
        max_runs: stop after this many evaluations (``None``: all).
        cache_dir: the OpenML cache (default: tunegym's pinned one).

    Raises:
        OpenMLImportError: OpenML unreachable and the answer not cached.
    """
    from tunegym.metastore.importers import fetch_mlp_evaluations, fetch_openml_qualities

    dids = list(dids)
    qualities = (
        import_qualities(store, fetch_openml_qualities(dids, cache_dir=cache_dir))
        if dids
        else ImportSummary()
    )
    known = _stored_openml_runs(store)
    records: list[RunRecord] = []
    skipped = 0
    datasets: set[int] = set()
    evaluations = fetch_mlp_evaluations(
        None if flows is None else list(flows),
        tasks=None if tasks is None else list(tasks),
        max_rows=max_runs,
        cache_dir=cache_dir,
    )
    for ev in evaluations:
        if ev.run_id in known:
            skipped += 1
            continue
        known.add(ev.run_id)
        dataset = store.get_or_create_dataset(
            ev.dataset_name, openml_did=ev.openml_did, source=Source.OPENML
        )
        datasets.add(dataset.id)
        task = store.get_or_create_task(
            dataset,
            SplitSpec(Procedure.CV, seed=None, val_size=None, test_size=None, n_folds=10),
            openml_task_id=ev.task_id,
        )
        flow = store.get_or_create_flow(ev.flow_name, family="mlp", openml_flow_id=ev.flow_id)
        setup = store.get_or_create_setup(flow, ev.hyperparameters())
        records.append(
            RunRecord(
                task,
                setup,
                0,
                RunStatus.OK,
                [EvaluationRow(ev.measure, DataSplit.TEST, ev.value, None, None)],
                source=Source.OPENML,
                openml_run_id=ev.run_id,
            )
        )
    store.add_runs(records)
    return ImportSummary(
        datasets=len(datasets) + qualities.datasets,
        qualities=qualities.qualities,
        runs=len(records),
        skipped_runs=skipped,
    )


def import_lcdb(
    store: MetaStore,
    *,
    datasets: Iterable[int] | None = None,
    curves: bool = True,
    metric: str = "accuracy",
    root: str | Path | None = None,
) -> ImportSummary:
    """Import LCDB's published qualities and (optionally) its MLP learning curves.

    Args:
        store: where to write.
        datasets: OpenML ids to import (``None``: all 219).
        curves: also import the MLPClassifier learning curves (over training-set sizes).
        metric: LCDB metric of the curves: ``accuracy``, ``auc`` or ``f1``.
        root: the lcdb package folder (default: the installed ``lcdb`` package).
    """
    from tunegym.metastore.importers import MLP_LEARNER, read_lcdb_curves, read_lcdb_qualities

    wanted = None if datasets is None else list(datasets)
    qualities = import_qualities(store, read_lcdb_qualities(root, datasets=wanted))
    if not curves:
        return qualities
    if metric not in _LCDB_MEASURES:
        raise ValueError(f"LCDB metric must be one of {sorted(_LCDB_MEASURES)}, got {metric!r}.")
    measure = _LCDB_MEASURES[metric]
    flow = store.get_or_create_flow(f"lcdb:{MLP_LEARNER}", family="mlp")
    dataset_refs: dict[int, DatasetRef] = {}
    tasks: dict[tuple[int, int], TaskRef] = {}
    setups: dict[int, SetupRef] = {}
    records: list[RunRecord] = []
    for point in read_lcdb_curves(root, learner=MLP_LEARNER, metric=metric, datasets=wanted):
        did = point.openml_did
        if did not in dataset_refs:  # found by its OpenML id when its qualities came in
            dataset_refs[did] = store.get_or_create_dataset(
                f"openml:{did}", openml_did=did, source=Source.LCDB
            )
        key = (did, point.outer_seed)
        if key not in tasks:
            split = SplitSpec(seed=point.outer_seed, val_size=None, test_size=None)
            tasks[key] = store.get_or_create_task(dataset_refs[did], split)
        if point.anchor not in setups:
            setups[point.anchor] = store.get_or_create_setup(flow, {"anchor": int(point.anchor)})
        values = [
            EvaluationRow(measure, split_, float(value), None, None)
            for split_, value in (
                (DataSplit.TRAIN, point.score_train),
                (DataSplit.VAL, point.score_valid),
                (DataSplit.TEST, point.score_test),
            )
        ]
        records.append(
            RunRecord(
                tasks[key],
                setups[point.anchor],
                int(point.inner_seed),
                RunStatus.OK,
                values,
                source=Source.LCDB,
                total_seconds=float(point.train_time_s),
            )
        )
    store.add_runs(records)
    return ImportSummary(
        datasets=qualities.datasets, qualities=qualities.qualities, runs=len(records)
    )
