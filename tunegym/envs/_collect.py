"""Collect the meta-dataset: learning curves of every candidate of a search space, into a store.

The unit of work is one (dataset, seed): every candidate configuration trained ``E_max`` epochs.
On the lr × batch-size grid, a unit is trained with the batched trainer (`record_curves`: all
learning rates of a batch size at once) and logged in one transaction (``MetaStore.log_curves``,
idempotent). Off the grid (e.g. LCBench's space), each candidate is one `Trial`, logged as soon as
it finishes (``MetaStore.log_trial``), and a unit is complete once every candidate is stored for
its seed. Either way a collection killed at any point resumes by skipping what the store already
holds complete: only the work in flight is redone and no row is duplicated.

Collectors running at once on one store (a SQLite file, or a PostgreSQL server from several
machines) share its work: each claims a unit (off the grid: a trial) in the store just before it
trains it and leaves those another holds (the table ``collect_claim``); once its own are done it
waits for the jobs others still hold, and takes over those of a collector that was killed when
their claims expire (a minute without its heartbeat). Each job is trained once.

Units (off the grid: trials) run where `Workers` says: in this process, in spawned processes or
as Ray tasks on a local Ray or a cluster (`tunegym.parallel`). The parent alone writes to the
store: SQLite has one writer, a trial's records are small next to its training, and workers on
other machines need no access to the database. Datasets larger than ``max_rows`` are subsampled
(stratified, seed 0), so the curves of a capped dataset are those of
``load_dataset(spec, max_rows=max_rows, seed=0)``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from contextlib import ExitStack, closing
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any, Final

import pandas as pd
from sqlalchemy import ColumnElement, and_, exists, or_, select

from tunegym.data import TabularDataset, list_datasets, load_dataset, read_table
from tunegym.envs._backends import trial_setup
from tunegym.envs._curves import record_curves
from tunegym.envs._features import task_meta_features
from tunegym.envs._sharing import shared_results
from tunegym.envs._task import SearchSpace
from tunegym.errors import did_you_mean
from tunegym.metastore import (
    ENV_FEATURE_NAMES,
    ENV_FEATURE_PREFIX,
    MLP_FLOW_VERSION,
    Dataset,
    Evaluation,
    Flow,
    MetaStore,
    Run,
    RunStatus,
    Setup,
    SplitSpec,
    Task,
    compute_meta_features,
    mlp_flow_name,
    openml_twins,
    trial_identity,
)
from tunegym.metastore._claims import WorkClaims, shared
from tunegym.parallel import Workers, executor
from tunegym.training import EpochRecord, MLPSpec, Trial

__all__ = [
    "DEFAULT_MAX_ROWS",
    "CollectProgress",
    "CollectSummary",
    "CollectUnit",
    "collect",
    "completed_units",
    "resolve_datasets",
]

# Rows kept of a larger dataset (stratified sample, seed 0). Only keel:letter (20,000 rows),
# keel:magic (19,020) and keel:penbased (10,992) exceed it; 10,000 rows keep their collection
# at ~12 s per seed on one core, and a 6,000-row training split still separates the grid.
DEFAULT_MAX_ROWS: Final = 10_000

_GROUPS: Final = ("all", "keel", "sklearn")


@dataclass(frozen=True, order=True)
class CollectUnit:
    """One unit of work: every candidate of the search space on one dataset with one trial seed.

    Attributes:
        dataset: the dataset's spec (``"keel:german"``) or file path: the curves' label.
        seed: the trial seed (initial weights, batch order).
    """

    dataset: str
    seed: int


@dataclass(frozen=True)
class CollectProgress:
    """Where a collection stands, passed to the ``progress`` callback.

    On the grid it comes after each unit; off the grid, after each trial (one candidate).

    Attributes:
        unit: the unit just finished, or off the grid the unit of the trial just finished
            (``None`` for the first report, after the resume check).
        units_done: units finished, skipped ones and those another collector finished included.
        units_total: units of the whole collection.
        units_skipped: units found complete in the store and not trained again.
        configs_trained: configurations (trials) trained in this session.
        datasets_done: datasets whose every unit is finished.
        datasets_total: datasets of the collection.
        seconds: wall time since the collection started.
        failures: units that failed so far (dataset, seed, message).
        configs_total: off the grid, the trials this session has to train (``None`` on the
            grid); the ETA then counts trials, not units.
    """

    unit: CollectUnit | None
    units_done: int
    units_total: int
    units_skipped: int
    configs_trained: int
    datasets_done: int
    datasets_total: int
    seconds: float
    failures: tuple[tuple[str, int, str], ...] = ()
    configs_total: int | None = None

    @property
    def configs_per_second(self) -> float:
        """Configurations (one candidate × seed, ``E_max`` epochs) trained per second."""
        return self.configs_trained / self.seconds if self.seconds > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at the pace of the work so far (``None`` before the first unit/trial)."""
        if self.configs_total is not None:
            if self.configs_trained <= 0:
                return None
            return self.seconds / self.configs_trained * (self.configs_total - self.configs_trained)
        trained = self.units_done - self.units_skipped
        if trained <= 0:
            return None
        return self.seconds / trained * (self.units_total - self.units_done)


@dataclass(frozen=True)
class CollectSummary:
    """What a collection did.

    Attributes:
        units_trained: units trained and logged in this session.
        units_skipped: units already complete in the store.
        runs_logged: runs (one per candidate × seed) written in this session.
        failures: (dataset, seed, message) of units that raised (off the grid: the first trial
            of the unit that raised); their datasets are incomplete.
        twins: (dataset, twin) of datasets not collected because the store keeps their OpenML
            dataset under another spec (see `openml_twins`).
        wall_seconds: wall time of the session.
        cpu_seconds: CPU time of the training (summed over workers) and of the parent.
        units_elsewhere: units that another collector on the store finished during this
            session (off the grid: whose trials left to do it stored, none stored here).
    """

    units_trained: int
    units_skipped: int
    runs_logged: int
    failures: tuple[tuple[str, int, str], ...] = field(default=())
    twins: tuple[tuple[str, str], ...] = field(default=())
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    units_elsewhere: int = 0


def resolve_datasets(selection: Sequence[str]) -> list[str]:
    """Dataset specs of a selection: ``all``, ``keel``, ``sklearn``, specs or file paths.

    Bundled datasets come largest first (by rows times features), so that parallel workers
    finish together; the rest keep their order after them. Duplicates are dropped.

    Raises:
        DatasetNotFoundError: (a ``ValueError``) for a spec of no bundled dataset, with a near
            miss; specs of other sources (``openml:31``) and file paths are passed through.
    """
    listed = {d.spec: d for d in list_datasets()}
    chosen: list[str] = []
    for item in selection:
        if item in _GROUPS:
            chosen += [s for s, d in listed.items() if item == "all" or d.source == item]
        elif item.startswith(("keel:", "sklearn:")) and item not in listed:
            from tunegym.errors import DatasetNotFoundError

            raise DatasetNotFoundError(
                f"No bundled dataset {item!r} (tunegym datasets list shows them)."
                + did_you_mean(item, list(listed))
            )
        else:
            chosen.append(item)
    unique = list(dict.fromkeys(chosen))
    size = {s: -d.n_rows * max(d.n_features, 1) for s, d in listed.items()}
    return sorted(unique, key=lambda s: (size.get(s, 0), s not in size))


def completed_units(
    store: MetaStore, space: SearchSpace, model: MLPSpec | None = None
) -> set[CollectUnit]:
    """Units whose runs the store holds complete: every candidate configuration for that seed.

    A run counts when it is a local run from scratch on the default split (``load_dataset``'s
    hold-out 60/20/20, seed 0) that reached epoch ``E_max`` or diverged. On the grid, it is a run
    of ``model``'s flow with setup ``max_epochs == E_max``, identified by (lr, batch size); off
    the grid, a candidate is stored when a run's setup (the `TrainConfig` without its seed) and
    flow (the network's spec) are those `trial_setup` gives the candidate.
    """
    if not space.is_grid:
        stored = _stored_candidates(store, space, _candidate_identities(space, model))
        return {unit for unit, found in stored.items() if len(found) == space.n_configs}
    return _completed_grid_units(store, space, model or MLPSpec())


def _of_unit(unit: CollectUnit | None) -> tuple[ColumnElement[bool], ...]:
    """The conditions that keep the runs of ``unit`` (none: every unit's)."""
    if unit is None:
        return ()
    label = or_(
        Dataset.spec == unit.dataset, and_(Dataset.spec.is_(None), Dataset.name == unit.dataset)
    )
    return (Run.seed == unit.seed, label)


def _completed_grid_units(
    store: MetaStore, space: SearchSpace, model: MLPSpec, unit: CollectUnit | None = None
) -> set[CollectUnit]:
    """On the grid: `completed_units` (of ``unit`` alone, if given)."""
    flow = mlp_flow_name(asdict(model))
    reached = exists().where(Evaluation.run_id == Run.id, Evaluation.epoch == space.max_epochs)
    query = (
        select(Dataset.spec, Dataset.name, Run.seed, Setup.params)
        .join(Task, Task.dataset_id == Dataset.id)
        .join(Run, Run.task_id == Task.id)
        .join(Setup, Setup.id == Run.setup_id)
        .join(Flow, Flow.id == Setup.flow_id)
        .where(
            Flow.name == flow,
            Flow.version == MLP_FLOW_VERSION,
            Task.key == SplitSpec().key,
            Run.source == "local",
            Run.init == "scratch",
            or_(Run.status == RunStatus.DIVERGED, reached),
            *_of_unit(unit),
        )
    )
    grid = {(float(f"{lr:.9g}"), bs) for lr in space.lrs for bs in space.batch_sizes}
    found: dict[CollectUnit, set[tuple[float, int]]] = {}
    with store.engine.connect() as connection:
        for spec, name, seed, params in connection.execute(query):
            if params.get("max_epochs") != space.max_epochs:
                continue
            config = (float(f"{float(params['lr']):.9g}"), int(params["batch_size"]))
            found.setdefault(CollectUnit(spec or name, int(seed)), set()).add(config)
    return {unit for unit, configs in found.items() if grid <= configs}


def _frozen(value: Any) -> Hashable:
    """A hashable, rounding-proof form of stored JSON: numbers to 9 significant digits."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(f"{float(value):.9g}")
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _frozen(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return repr(value)


def _candidate_identities(space: SearchSpace, model: MLPSpec | None) -> list[Hashable]:
    """Each candidate's stored identity (flow's model spec, setup params), in index order."""
    identities: list[Hashable] = []
    for config in space.candidates:
        model_spec, params = trial_identity(*trial_setup(config, space.max_epochs, 0, model))
        identities.append((_frozen(model_spec), _frozen(params)))
    return identities


def _stored_candidates(
    store: MetaStore,
    space: SearchSpace,
    identities: Sequence[Hashable],
    unit: CollectUnit | None = None,
) -> dict[CollectUnit, set[int]]:
    """Off the grid: per unit (``unit`` alone, if given), the indices of the candidates the
    store holds complete (``identities``: the candidates', `_candidate_identities`)."""
    index_of: dict[Hashable, int] = {}
    for i, identity in enumerate(identities):
        index_of.setdefault(identity, i)
    reached = exists().where(Evaluation.run_id == Run.id, Evaluation.epoch == space.max_epochs)
    query = (
        select(Dataset.spec, Dataset.name, Run.seed, Setup.params, Flow.model_spec)
        .join(Task, Task.dataset_id == Dataset.id)
        .join(Run, Run.task_id == Task.id)
        .join(Setup, Setup.id == Run.setup_id)
        .join(Flow, Flow.id == Setup.flow_id)
        .where(
            Flow.version == MLP_FLOW_VERSION,
            Flow.family.in_(("mlp", "mlp-funnel")),
            Task.key == SplitSpec().key,
            Run.source == "local",
            Run.init == "scratch",
            or_(Run.status == RunStatus.DIVERGED, reached),
            *_of_unit(unit),
        )
    )
    found: dict[CollectUnit, set[int]] = {}
    with store.engine.connect() as connection:
        for spec, name, seed, params, model_spec in connection.execute(query):
            index = index_of.get((_frozen(model_spec or {}), _frozen(params)))
            if index is not None:
                found.setdefault(CollectUnit(spec or name, int(seed)), set()).add(index)
    return found


def _key(*parts: Hashable) -> str:
    """A job's claim key (`WorkClaims`): a digest of what makes it (numbers `_frozen`)."""
    return "collect:" + hashlib.sha256(repr(parts).encode()).hexdigest()


def _unit_key(unit: CollectUnit, space: SearchSpace, model: MLPSpec) -> str:
    """On the grid: the claim key of a unit (its dataset, seed, flow and grid)."""
    lrs = tuple(sorted(float(f"{lr:.9g}") for lr in space.lrs))
    flow = mlp_flow_name(asdict(model))
    return _key(
        unit.dataset, unit.seed, flow, space.max_epochs, lrs, tuple(sorted(space.batch_sizes))
    )


def _datasets_with_meta_features(store: MetaStore) -> set[str]:
    """Labels (spec, else name) of the datasets whose OpenML qualities are stored."""
    features = store.meta_features()
    if "NumberOfInstances" not in features.columns:
        return set()
    have = features.index[features["NumberOfInstances"].notna()]
    datasets = store.datasets()
    labels = datasets["spec"].where(datasets["spec"].notna(), datasets["name"])
    return {str(labels[i]) for i in have if i in labels.index}


def _train_unit(
    unit: CollectUnit,
    space: SearchSpace,
    model: MLPSpec,
    max_rows: int | None,
    target: str | None,
) -> tuple[pd.DataFrame, float]:
    """Record one unit's curves; return them and the CPU seconds spent (runs in a worker)."""
    started = time.process_time()
    dataset = load_dataset(unit.dataset, target=target, max_rows=max_rows, seed=0)
    frame = record_curves(
        dataset, space, seeds=(unit.seed,), model=model, batched=True, progress=None
    )
    return frame, time.process_time() - started


# Trials of one dataset come one after another: a worker (and the parent) keeps the last two.
@lru_cache(maxsize=2)
def _load(spec: str, max_rows: int | None, target: str | None) -> TabularDataset:
    return load_dataset(spec, target=target, max_rows=max_rows, seed=0)


def _train_trial(
    job: tuple[CollectUnit, int],
    space: SearchSpace,
    model: MLPSpec,
    max_rows: int | None,
    target: str | None,
) -> tuple[list[EpochRecord], float]:
    """Train one candidate ``E_max`` epochs; return its records and CPU seconds (in a worker)."""
    started = time.process_time()
    unit, index = job
    train, spec = trial_setup(space.candidates[index], space.max_epochs, unit.seed, model)
    history = Trial(_load(unit.dataset, max_rows, target), train, spec, eval_test=True).train(
        space.max_epochs
    )
    return history, time.process_time() - started


def collect(
    specs: Sequence[str],
    space: SearchSpace | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    *,
    store: MetaStore,
    model: MLPSpec | None = None,
    max_rows: int | None = DEFAULT_MAX_ROWS,
    target: str | None = None,
    workers: int | Workers = 1,
    threads: int = 1,
    meta_features: bool = True,
    progress: Callable[[CollectProgress], None] | None = None,
) -> CollectSummary:
    """Record the curves of every candidate on every dataset into ``store``; resumable.

    Units (dataset, seed) already complete in the store are skipped, and so are datasets whose
    OpenML dataset the store keeps under another spec (`openml_twins`). On the grid, each trained
    unit is logged as soon as it finishes (one transaction); off the grid, each trial is logged as
    soon as it finishes and the candidates already stored for a unit are not trained again. With
    ``meta_features``, a dataset's OpenML qualities are computed and stored once, after its first
    logged unit (trial). A unit (trial) that raises is reported in the summary and the others go
    on; an exception of ``progress`` (or Ctrl-C) stops the collection, and calling `collect` again
    resumes it.

    Args:
        specs: dataset specs or file paths (`resolve_datasets` expands ``all``/``keel``/``sklearn``).
        space: the candidates (default `SearchSpace()`: the grid of 13 lrs × 6 batch sizes,
            ``E_max`` 16; or e.g. ``SearchSpace.sampled(LCBENCH_SPACE, 100, max_epochs=50)``).
        seeds: trial seeds.
        store: where runs and meta-features go.
        model: the network of grid configurations (default `MLPSpec()`; see `trial_setup`).
        max_rows: datasets with more rows are subsampled to this many (stratified, seed 0);
            ``None`` keeps every row.
        target: the class column of file datasets.
        workers: where units (off the grid: trials) are trained: a `Workers` (e.g.
            ``Workers(4, ray_address="auto")`` for a Ray cluster), or a number of workers (1: in
            this process; more: a local Ray of that many CPUs, or spawned processes where Ray
            is not installed).
        threads: torch threads per worker when ``workers`` is a number (a `Workers` carries
            its own); work in this process keeps the process's setting.
        meta_features: also compute and store each dataset's meta-features.
        progress: called with a `CollectProgress` after the resume check and after each unit
            (off the grid: each trial).

    Returns:
        A `CollectSummary` of this session.

    Raises:
        ValueError: for no dataset, no seed, a negative seed, or ``workers``/``threads`` < 1.
        MissingExtraError: (an ``ImportError``) for a Ray address without the ``ray`` package.
        ConnectionError: for a Ray address nothing answers at.

    Example:
        >>> from tunegym.metastore import MetaStore
        >>> with MetaStore(":memory:") as store:
        ...     summary = collect(["sklearn:iris"], SearchSpace(lrs=(1e-3, 1e-2),
        ...                       batch_sizes=(32,), max_epochs=2), seeds=(0,), store=store)
        ...     summary.runs_logged
        2
    """
    space = space or SearchSpace()
    model = model or MLPSpec()
    seeds = tuple(int(s) for s in seeds)
    specs = list(dict.fromkeys(specs))
    if not specs:
        raise ValueError(
            "collect needs at least one dataset; resolve_datasets(['all']) lists them."
        )
    if not seeds or min(seeds) < 0:
        raise ValueError(f"collect needs non-negative trial seeds, got {seeds!r}.")
    where = workers if isinstance(workers, Workers) else Workers(workers, threads=threads)
    started, cpu_started = time.perf_counter(), time.process_time()
    twins = openml_twins(store, specs)
    specs = [s for s in specs if s not in twins]
    units = [CollectUnit(spec, seed) for spec in specs for seed in seeds]
    identities = [] if space.is_grid else _candidate_identities(space, model)
    stored = {} if space.is_grid else _stored_candidates(store, space, identities)
    if space.is_grid:
        done = _completed_grid_units(store, space, model) & set(units)
    else:
        done = {u for u in units if len(stored.get(u, ())) == space.n_configs}
    todo = [u for u in units if u not in done]
    jobs = (
        []
        if space.is_grid
        else [(u, i) for u in todo for i in range(space.n_configs) if i not in stored.get(u, ())]
    )
    trials_left = {u: space.n_configs - len(stored.get(u, ())) for u in todo}
    unit_error: dict[CollectUnit, str] = {}
    ours: set[CollectUnit] = set()  # units with a trial stored in this session
    left = {spec: sum(1 for u in todo if u.dataset == spec) for spec in specs}
    described = _datasets_with_meta_features(store) if meta_features else set(specs)
    failures: list[tuple[str, int, str]] = []
    trained = runs = configs = elsewhere = trials_elsewhere = 0
    worker_cpu = 0.0

    def report(unit: CollectUnit | None) -> None:
        if progress is not None:
            progress(
                CollectProgress(
                    unit=unit,
                    units_done=len(done) + trained + len(failures) + elsewhere,
                    units_total=len(units),
                    units_skipped=len(done),
                    configs_trained=trained * space.n_configs if space.is_grid else configs,
                    datasets_done=sum(1 for n in left.values() if n == 0),
                    datasets_total=len(specs),
                    seconds=time.perf_counter() - started,
                    failures=tuple(failures),
                    configs_total=None if space.is_grid else len(jobs) - trials_elsewhere,
                )
            )

    def describe(dataset: str) -> None:
        if dataset not in described:
            values = compute_meta_features(read_table(dataset, target))
            if not space.is_grid:  # on the grid, log_curves stores them from the table's header
                features = task_meta_features(_load(dataset, max_rows, target))
                names = (ENV_FEATURE_PREFIX + name for name in ENV_FEATURE_NAMES)
                values |= dict(zip(names, features.tolist(), strict=True))
            store.set_meta_features(dataset, values, source="computed")
            described.add(dataset)

    def trial_stored(job: tuple[CollectUnit, int]) -> bool:
        unit, index = job
        return index in _stored_candidates(store, space, identities, unit).get(unit, ())

    report(None)
    args = (space, model, max_rows, target)
    remote = where.kind != "inline"  # the workers' CPU time is not this process's
    if not (todo if space.is_grid else jobs):
        where = Workers()  # nothing to train: no Ray to start
    with ExitStack() as stack:
        # Other collectors on the store take the jobs this one has claimed, and vice versa.
        claims = None
        if shared(store) and (todo if space.is_grid else jobs):
            claims = stack.enter_context(WorkClaims(store))
        ex = stack.enter_context(executor(where))
        window = _window(where)
        # closing(): an exception of ``progress`` cancels the work left at once.
        if space.is_grid:
            results = shared_results(
                ex, _train_unit, todo, args, claims=claims, window=window,
                key=lambda unit: _unit_key(unit, space, model),
                stored=lambda unit: unit in _completed_grid_units(store, space, model, unit),
            )  # fmt: skip
            for unit, result in stack.enter_context(closing(results)):
                left[unit.dataset] -= 1
                if result is None:
                    elsewhere += 1
                elif isinstance(result, BaseException):
                    failures.append((unit.dataset, unit.seed, f"{type(result).__name__}: {result}"))
                else:
                    frame, cpu = result
                    runs += len(store.log_curves(frame))
                    trained, worker_cpu = trained + 1, worker_cpu + (cpu if remote else 0.0)
                    describe(unit.dataset)
                report(unit)
        else:
            outcomes = shared_results(
                ex, _train_trial, jobs, args, claims=claims, window=window,
                key=lambda job: _key(job[0].dataset, job[0].seed, identities[job[1]]),
                stored=trial_stored,
            )  # fmt: skip
            for (unit, index), outcome in stack.enter_context(closing(outcomes)):
                trials_left[unit] -= 1
                if outcome is None:
                    trials_elsewhere += 1
                elif isinstance(outcome, BaseException):
                    unit_error.setdefault(unit, f"{type(outcome).__name__}: {outcome}")
                else:
                    history, cpu = outcome
                    train, spec = trial_setup(
                        space.candidates[index], space.max_epochs, unit.seed, model
                    )
                    dataset = _load(unit.dataset, max_rows, target)
                    store.log_trial(dataset, train, spec, history)
                    runs, configs = runs + 1, configs + 1
                    worker_cpu += cpu if remote else 0.0
                    ours.add(unit)
                    describe(unit.dataset)
                if trials_left[unit] == 0:
                    left[unit.dataset] -= 1
                    if unit in unit_error:
                        failures.append((unit.dataset, unit.seed, unit_error[unit]))
                    elif unit in ours:
                        trained += 1
                    else:
                        elsewhere += 1
                report(unit)
    return CollectSummary(
        units_trained=trained,
        units_skipped=len(done),
        runs_logged=runs,
        failures=tuple(failures),
        twins=tuple(twins.items()),
        wall_seconds=time.perf_counter() - started,
        cpu_seconds=worker_cpu + time.process_time() - cpu_started,
        units_elsewhere=elsewhere,
    )


def _window(where: Workers) -> int:
    """Jobs in flight at once (and claimed ahead): one per worker, and one more so that a worker
    that ends a job starts the next while this process stores the results."""
    n = where.n
    if where.kind == "ray":  # a cluster's parallelism is its CPUs
        import ray

        n = max(n, int(ray.cluster_resources().get("CPU", 0)))
    return n + 1
