"""Session-level operations: get-or-create of the entities, and the bulk write of runs.

`MetaStore` wraps each in a transaction; `log_curves` and the Parquet import call several in one.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from numbers import Real
from typing import Any

from sqlalchemy import ColumnElement, func, insert, or_, select, text
from sqlalchemy.orm import Session

from tunegym.errors import DatasetNotFoundError, did_you_mean
from tunegym.metastore._schema import (
    EVALUATION_TABLE,
    Dataset,
    Evaluation,
    Flow,
    MetaFeature,
    Run,
    Setup,
    Task,
)
from tunegym.metastore._values import (
    EPOCH_MEASURES,
    DatasetRef,
    EvaluationRow,
    FlowRef,
    FlowSpace,
    MetaFeatureSource,
    RunRecord,
    SearchGrid,
    SetupRef,
    Source,
    SplitSpec,
    TaskRef,
    canonical_params,
    flow_space_from_json,
    params_hash,
    parse_enum,
)

__all__ = [
    "RunKey",
    "dataset_ref",
    "existing_runs",
    "flow_ref",
    "get_or_create_dataset",
    "get_or_create_flow",
    "get_or_create_setup",
    "get_or_create_task",
    "insert_runs",
    "lock_run_keys",
    "resolve_dataset",
    "run_key",
    "set_meta_features",
    "task_ref",
]

# A run's natural key: its OpenML id where it has one, else (task, setup, seed, source, init,
# checkpoint). Logging or importing a run whose key is stored does not add it again.
RunKey = tuple[Any, ...]
# PostgreSQL advisory locks on run keys: the first int of their two-int keys is "tune" in ASCII
# (apart from the migration lock's one-bigint key), the second a bucket of the run key. Buckets
# bound the locks one transaction holds: PostgreSQL's shared lock table has room for 64 per
# connection by default, and a lock per run of a bulk `log_curves` or import (20,000 locks)
# fails with "out of shared memory"; such a write takes at most every bucket.
_RUN_LOCK_SPACE = 0x7475_6E65
_RUN_LOCK_BUCKETS = 128


def run_key(
    task_id: int,
    setup_id: int,
    seed: int,
    source: str,
    init: str,
    checkpoint: str | None,
    openml_run_id: int | None,
) -> RunKey:
    """The natural key of a run (see `RunKey`)."""
    if openml_run_id is not None:
        return ("openml", int(openml_run_id))
    return (int(task_id), int(setup_id), int(seed), str(source), str(init), checkpoint)


def lock_run_keys(session: Session, keys: Iterable[RunKey]) -> None:
    """Hold PostgreSQL advisory locks on these run keys until the transaction ends.

    `log_trial`, `log_curves` and `import_parquet` add a run unless its key is stored; two
    writers of one key (two processes logging the same trial) would both find it missing and
    both add it. Taken before the stored runs are read, the lock makes the second writer wait
    for the first one's commit and then see its run. Keys share `_RUN_LOCK_BUCKETS` locks (two
    keys of one bucket only wait for each other), taken in one order so that two writers of
    many keys do not deadlock on them. SQLite needs none: its write transactions run one at a
    time (``BEGIN IMMEDIATE``).
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    buckets = sorted({_bucket(key) for key in keys})
    if buckets:
        session.execute(
            text(
                # unnest reads the sorted array out in its order
                "SELECT count(pg_advisory_xact_lock(:space, bucket)) "
                "FROM unnest(CAST(:buckets AS integer[])) AS bucket"
            ),
            {"space": _RUN_LOCK_SPACE, "buckets": buckets},
        )


def _bucket(key: RunKey) -> int:
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest) % _RUN_LOCK_BUCKETS


def dataset_ref(row: Dataset) -> DatasetRef:
    """The value object of a dataset row."""
    return DatasetRef(row.id, row.name, row.spec, row.openml_did, Source(row.source))


def _check_count(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValueError(f"{name} must be an int >= 0 or None, got {value!r}.")


def get_or_create_dataset(
    session: Session,
    name: str,
    *,
    spec: str | None = None,
    openml_did: int | None = None,
    source: Source | str = Source.LOCAL,
    n_rows: int | None = None,
    n_features: int | None = None,
    n_classes: int | None = None,
) -> DatasetRef:
    """Find a dataset by spec, else OpenML did, else name (datasets with neither); or add it.

    A found dataset gets the missing did/spec/sizes filled in from the arguments.

    Raises:
        ValueError: for a bad argument, or a spec and a did that name two different datasets.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"A dataset needs a non-empty name, got {name!r}.")
    source = parse_enum(Source, source, "dataset source")
    for field, value in [("n_rows", n_rows), ("n_features", n_features), ("n_classes", n_classes)]:
        _check_count(field, value)
    _check_count("openml_did", openml_did)
    by_spec = session.scalar(select(Dataset).where(Dataset.spec == spec)) if spec else None
    by_did = (
        session.scalar(select(Dataset).where(Dataset.openml_did == openml_did))
        if openml_did is not None
        else None
    )
    if by_spec is not None and by_did is not None and by_spec.id != by_did.id:
        raise ValueError(
            f"spec {spec!r} is dataset {by_spec.id} and OpenML did {openml_did} is dataset "
            f"{by_did.id} in this store; they cannot be one dataset."
        )
    row = by_spec or by_did
    if row is None and spec is None and openml_did is None:
        row = session.scalar(
            select(Dataset).where(
                Dataset.name == name, Dataset.spec.is_(None), Dataset.openml_did.is_(None)
            )
        )
    if row is None:
        row = Dataset(name=name, spec=spec, openml_did=openml_did, source=source)
        session.add(row)
    if row.spec is None and spec is not None:
        row.spec = spec
    if row.openml_did is None and openml_did is not None:
        row.openml_did = openml_did
    row.n_rows = row.n_rows if row.n_rows is not None else n_rows
    row.n_features = row.n_features if row.n_features is not None else n_features
    row.n_classes = row.n_classes if row.n_classes is not None else n_classes
    session.flush()
    return dataset_ref(row)


def resolve_dataset(session: Session, dataset: DatasetRef | int | str) -> Dataset:
    """The dataset row of a reference, an internal id, or a spec/name.

    Raises:
        DatasetNotFoundError: (a ``ValueError``) when none matches, with a "Did you mean".
        ValueError: when a name matches several datasets.
    """
    if isinstance(dataset, DatasetRef):
        dataset = dataset.id
    if isinstance(dataset, bool) or not isinstance(dataset, int | str):
        raise TypeError(
            f"A dataset is given by its id (int), spec or name (str), got {type(dataset).__name__}."
        )
    if isinstance(dataset, int):
        row = session.get(Dataset, dataset)
        if row is None:
            raise DatasetNotFoundError(f"No dataset with id {dataset} in the meta-store.")
        return row
    found = session.scalar(select(Dataset).where(Dataset.spec == dataset))
    if found is not None:
        return found
    named = session.scalars(select(Dataset).where(Dataset.name == dataset)).all()
    if len(named) == 1:
        return named[0]
    if named:
        raise ValueError(
            f"{len(named)} datasets are named {dataset!r} (ids {[d.id for d in named]}); "
            "give the id or the spec."
        )
    labels = [s or n for s, n in session.execute(select(Dataset.spec, Dataset.name))]
    raise DatasetNotFoundError(
        f"No dataset {dataset!r} in the meta-store ({len(labels)} datasets)."
        + did_you_mean(dataset, labels)
    )


def set_meta_features(
    session: Session,
    dataset_id: int,
    values: Mapping[str, float | None],
    source: MetaFeatureSource | str,
) -> None:
    """Insert or overwrite meta-features of a dataset (``None``/``nan``: missing)."""
    source = parse_enum(MetaFeatureSource, source, "meta-feature source")
    checked: dict[str, float | None] = {}
    for name, value in values.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"Meta-feature names must be non-empty strings, got {name!r}.")
        if value is not None and (isinstance(value, bool) or not isinstance(value, Real)):
            raise TypeError(f"Meta-feature {name!r} must be a number or None, got {value!r}.")
        checked[name] = None if value is None or math.isnan(value) else float(value)
    stored = {
        row.name: row
        for row in session.scalars(
            select(MetaFeature).where(
                MetaFeature.dataset_id == dataset_id, MetaFeature.source == source
            )
        )
    }
    for name, value in checked.items():
        if name in stored:
            stored[name].value = value
        else:
            session.add(MetaFeature(dataset_id=dataset_id, name=name, value=value, source=source))
    session.flush()


def get_or_create_task(
    session: Session,
    dataset: DatasetRef | int | str,
    split: SplitSpec,
    openml_task_id: int | None = None,
) -> TaskRef:
    """Find the task of ``dataset`` with ``split`` (or with ``openml_task_id``), or add it."""
    if not isinstance(split, SplitSpec):
        raise TypeError(f"split must be a SplitSpec, got {type(split).__name__}.")
    _check_count("openml_task_id", openml_task_id)
    dataset_id = resolve_dataset(session, dataset).id
    clauses: list[ColumnElement[bool]] = [(Task.dataset_id == dataset_id) & (Task.key == split.key)]
    if openml_task_id is not None:
        clauses.append(Task.openml_task_id == openml_task_id)
    row = session.scalar(select(Task).where(or_(*clauses)))
    if row is None:
        row = Task(
            dataset_id=dataset_id,
            openml_task_id=openml_task_id,
            procedure=split.procedure,
            split_seed=split.seed,
            n_folds=split.n_folds,
            fold=split.fold,
            val_size=split.val_size,
            test_size=split.test_size,
            key=split.key,
        )
        session.add(row)
    elif row.openml_task_id is None:
        row.openml_task_id = openml_task_id
    session.flush()
    return task_ref(row)


def task_ref(row: Task) -> TaskRef:
    """The value object of a task row."""
    split = SplitSpec(
        row.procedure, row.split_seed, row.val_size, row.test_size, row.n_folds, row.fold
    )
    return TaskRef(row.id, row.dataset_id, split, row.openml_task_id)


def flow_ref(row: Flow) -> FlowRef:
    """The value object of a flow row."""
    space = flow_space_from_json(row.search_space)
    return FlowRef(
        row.id, row.name, row.version, row.family, row.model_spec, space, row.openml_flow_id
    )


def get_or_create_flow(
    session: Session,
    name: str,
    version: str = "1",
    *,
    family: str = "mlp",
    model_spec: Mapping[str, Any] | None = None,
    search_space: SearchGrid | FlowSpace | None = None,
    openml_flow_id: int | None = None,
) -> FlowRef:
    """Find the flow ``name`` ``version``, or add it; a stored search space is widened to hold
    ``search_space``.

    Raises:
        ValueError: if the stored flow has another model spec (give the new one a new version).
    """
    for label, value in [("name", name), ("version", version), ("family", family)]:
        if not isinstance(value, str) or not value:
            raise ValueError(f"A flow needs a non-empty {label}, got {value!r}.")
    _check_count("openml_flow_id", openml_flow_id)
    spec = canonical_params(model_spec) if model_spec is not None else None
    row = session.scalar(select(Flow).where(Flow.name == name, Flow.version == version))
    if row is None:
        row = Flow(
            name=name,
            version=version,
            family=family,
            model_spec=spec,
            search_space=search_space.to_json() if search_space else None,
            openml_flow_id=openml_flow_id,
        )
        session.add(row)
        session.flush()
        return flow_ref(row)
    if spec is not None and row.model_spec is not None and spec != row.model_spec:
        raise ValueError(
            f"Flow {name!r} version {version!r} has the model spec {row.model_spec}, not {spec}; "
            "store the new one under another version."
        )
    if search_space is not None and _widened(row, search_space) != row.search_space:
        # Another writer may be widening it too: read it again under a row lock (PostgreSQL;
        # SQLite writes one at a time anyway) so that neither widening is lost.
        session.refresh(row, with_for_update=True)
        row.search_space = _widened(row, search_space)
    row.model_spec = row.model_spec if row.model_spec is not None else spec
    row.openml_flow_id = row.openml_flow_id if row.openml_flow_id is not None else openml_flow_id
    session.flush()
    return flow_ref(row)


def _widened(row: Flow, search_space: SearchGrid | FlowSpace) -> dict[str, Any]:
    """The flow's stored search space widened to hold ``search_space``, as stored."""
    stored = flow_ref(row).search_space
    if stored is not None and type(stored) is not type(search_space):
        raise ValueError(
            f"Flow {row.name!r} version {row.version!r} searches {stored}, not {search_space}: "
            "a grid and a space do not mix; store the other under another flow version."
        )
    merged = stored.union(search_space) if stored else search_space  # type: ignore[arg-type]
    return merged.to_json()


def get_or_create_setup(
    session: Session, flow: FlowRef | int, params: Mapping[str, Any]
) -> SetupRef:
    """Find the setup of ``flow`` with these hyperparameter values (by hash), or add it."""
    if not isinstance(params, Mapping):
        raise TypeError(f"Setup params must be a mapping, got {type(params).__name__}.")
    flow_id = flow if isinstance(flow, int) else flow.id
    if session.get(Flow, flow_id) is None:
        raise ValueError(f"No flow with id {flow_id} in the meta-store.")
    canonical, digest = canonical_params(params), params_hash(params)
    row = session.scalar(select(Setup).where(Setup.flow_id == flow_id, Setup.hash == digest))
    if row is None:
        row = Setup(flow_id=flow_id, hash=digest, params=canonical)
        session.add(row)
        session.flush()
    return SetupRef(row.id, row.flow_id, row.params, row.hash)


def _evaluation_rows(
    evaluations: Sequence[Any],
) -> Iterator[tuple[str, str, float | None, int | None, float | None]]:
    """(measure, split, value, epoch, elapsed) of `EvaluationRow`s or of `EpochRecord`s."""
    if not evaluations:
        return
    if isinstance(evaluations[0], EvaluationRow):
        for row in evaluations:
            yield row.measure, row.split.value, row.value, row.epoch, row.elapsed_seconds
        return
    fields = [(name, m, s.value) for name, (m, s) in EPOCH_MEASURES.items()]
    for record in evaluations:
        for name, measure, split in fields:
            value = getattr(record, name)
            if value is not None:
                yield measure, split, value, record.epoch, record.seconds
    last = evaluations[-1]
    for name, measure, split in fields:  # the final values, OpenML's per-run evaluations
        value = getattr(last, name)
        if value is not None:
            yield measure, split, value, None, None


def insert_runs(session: Session, records: Sequence[RunRecord]) -> list[int]:
    """Insert runs and their evaluations with two bulk INSERTs; return the run ids in order."""
    if not records:
        return []
    for record in records:
        if not isinstance(record, RunRecord):
            raise TypeError(f"add_runs takes RunRecords, got {type(record).__name__}.")
    _check_references(session, records)
    run_rows = [
        {
            "task_id": r.task_id,
            "setup_id": r.setup_id,
            "seed": r.seed,
            "status": r.status,
            "init": r.init,
            "checkpoint": r.checkpoint,
            "source": r.source,
            "openml_run_id": r.openml_run_id,
            "hardware": r.hardware,
            "total_seconds": r.total_seconds,
        }
        for r in records
    ]
    statement = insert(Run).returning(Run.id, sort_by_parameter_order=True)
    ids = list(session.scalars(statement, run_rows))
    evaluations = [
        {
            "run_id": run_id,
            "measure": measure,
            "split": split,
            "value": value,
            "epoch": epoch,
            "elapsed_seconds": elapsed,
        }
        for run_id, record in zip(ids, records, strict=True)
        for measure, split, value, epoch, elapsed in _evaluation_rows(record.evaluations)
    ]
    if evaluations:
        # A Core INSERT of the table: one executemany (insertmanyvalues where the driver has
        # it), without the ORM's per-row bookkeeping (measured 1.7x slower for the same rows).
        session.execute(insert(EVALUATION_TABLE), evaluations)
    return ids


def _check_references(session: Session, records: Iterable[RunRecord]) -> None:
    # SQLite enforces the foreign keys too, but this names the missing id.
    for name, column, ids in [
        ("task", Task.id, {r.task_id for r in records}),
        ("setup", Setup.id, {r.setup_id for r in records}),
    ]:
        found = set(session.scalars(select(column).where(column.in_(ids))))
        if missing := sorted(ids - found):
            raise ValueError(f"No {name} with id {missing[0]} in the meta-store.")


def existing_runs(
    session: Session, task_ids: Iterable[int], setup_ids: Iterable[int] | None = None
) -> dict[RunKey, tuple[int, int]]:
    """Natural key -> (run id, epochs stored) of the runs of these tasks (and these setups).

    Give the setups where the runs looked for have no OpenML id: ``log_trial`` then reads the
    runs of its own setup, not every run of the task (which grows with every trial logged).
    """
    where = [Run.task_id.in_(set(task_ids))]
    if setup_ids is not None:
        where.append(Run.setup_id.in_(set(setup_ids)))
    rows = session.execute(
        select(
            Run.id, Run.task_id, Run.setup_id, Run.seed, Run.source, Run.init, Run.checkpoint,
            Run.openml_run_id, func.coalesce(func.max(Evaluation.epoch), 0),
        )
        .outerjoin(Evaluation, Evaluation.run_id == Run.id)
        .where(*where)
        .group_by(Run.id)
    )  # fmt: skip
    return {run_key(*row[1:8]): (row[0], int(row[8] or 0)) for row in rows}
