"""Local runs in and curve tables out: `log_trial`, `log_curves` and `curves` at session level.

A curve table is the `tunegym.envs` format (`CURVE_COLUMNS`): one row per (dataset, lr, batch
size, seed, epoch). Each (dataset, lr, batch size, seed) is one local run of the flow of the
table's model; its epochs are evaluations mapped with `EPOCH_MEASURES`.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from functools import cache
from typing import TYPE_CHECKING, Any, Final, cast

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from tunegym.metastore._entities import (
    existing_runs,
    get_or_create_dataset,
    get_or_create_flow,
    get_or_create_setup,
    get_or_create_task,
    insert_runs,
    lock_run_keys,
    resolve_dataset,
    run_key,
    set_meta_features,
)
from tunegym.metastore._schema import Evaluation, Flow, MetaFeature, Run, Setup, Task
from tunegym.metastore._values import (
    CURVE_COLUMNS,
    ENV_FEATURE_NAMES,
    ENV_FEATURE_PREFIX,
    EPOCH_MEASURES,
    OPTIONAL_CURVE_COLUMNS,
    DatasetRef,
    EpochLike,
    FlowRef,
    FlowSpace,
    Init,
    MetaFeatureSource,
    RunRecord,
    RunStatus,
    SearchGrid,
    SplitSpec,
    TaskRef,
)
from tunegym.space import LCBENCH_SPACE

if TYPE_CHECKING:
    from tunegym.data import TabularDataset
    from tunegym.training import ModelSpec, TrainConfig

__all__ = [
    "MLP_FLOW_VERSION",
    "detect_hardware",
    "log_curves",
    "log_trial",
    "mlp_flow_name",
    "read_curves",
    "status_of",
    "store_runs",
    "trial_identity",
]

# Version of tunegym's MLP training code in the flows it logs: bump it when the same
# hyperparameters would no longer give the same curves.
MLP_FLOW_VERSION: Final = "1"


def mlp_flow_name(model_spec: Mapping[str, Any]) -> str:
    """The flow name of tunegym's MLP with this spec, OpenML-style: ``tunegym.mlp(depth=2,…)``."""
    return "tunegym.mlp(" + ",".join(f"{k}={v}" for k, v in sorted(model_spec.items())) + ")"


@cache
def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def detect_hardware(device: str = "cpu") -> str:
    """Where a run ran: OS and architecture, CPU model and cores, and the GPU for CUDA devices."""
    text = f"{platform.system()} {platform.machine()}, {_cpu_name()} ({os.cpu_count()} cores)"
    if device.startswith("cuda"):
        import torch

        text += f", {torch.cuda.get_device_name(torch.device(device))}"
    return text


def status_of(history: Sequence[EpochLike], finished: bool = True) -> RunStatus:
    """``failed`` for an empty history, ``diverged`` if an epoch diverged, else ``ok``, or
    ``partial`` for a run not ``finished`` (a diverged run has ended all the same)."""
    if not history:
        return RunStatus.FAILED
    if any(r.diverged for r in history):
        return RunStatus.DIVERGED
    return RunStatus.OK if finished else RunStatus.PARTIAL


def _epochs(record: RunRecord) -> int:
    return max((e.epoch or 0 for e in record.evaluations), default=0)


def store_runs(session: Session, records: Sequence[RunRecord]) -> list[int]:
    """Add runs unless stored (by natural key); a stored run with fewer epochs is replaced,
    and a ``partial`` one with as many takes the status of the run that ended."""
    keys = [
        run_key(r.task_id, r.setup_id, r.seed, r.source, r.init, r.checkpoint, r.openml_run_id)
        for r in records
    ]
    lock_run_keys(session, keys)  # before reading what is stored
    # Without OpenML ids a run's setup is part of its key: read only the runs of these setups.
    setups = None if any(r.openml_run_id for r in records) else {r.setup_id for r in records}
    stored = existing_runs(session, {r.task_id for r in records}, setups)
    ids: list[int] = []
    new: list[tuple[int, RunRecord]] = []
    stale: list[int] = []
    for key, record in zip(keys, records, strict=True):
        found = stored.get(key)
        if found is not None and found[1] >= _epochs(record):
            ids.append(found[0])
            if found[1] == _epochs(record) and record.status is not RunStatus.PARTIAL:
                session.execute(
                    update(Run)
                    .where(Run.id == found[0], Run.status == RunStatus.PARTIAL)
                    .values(status=record.status, total_seconds=record.total_seconds)
                )
            continue
        if found is not None:
            stale.append(found[0])
        new.append((len(ids), record))
        ids.append(-1)
    if stale:
        session.execute(delete(Evaluation).where(Evaluation.run_id.in_(stale)))
        session.execute(delete(Run).where(Run.id.in_(stale)))
    for (position, _), run_id in zip(new, insert_runs(session, [r for _, r in new]), strict=True):
        ids[position] = run_id
    return ids


def log_trial(
    session: Session,
    dataset: TabularDataset,
    config: TrainConfig,
    spec: ModelSpec,
    history: Sequence[EpochLike],
    *,
    split: SplitSpec,
    checkpoint: str | None,
    hardware: str,
    finished: bool = True,
) -> int:
    """Store one trained trial as a local run (``partial`` unless ``finished``); its id."""
    info = dataset.info
    stored = get_or_create_dataset(
        session,
        info.name,
        spec=info.spec,
        openml_did=info.openml_id,
        n_rows=info.n_rows,
        n_features=info.n_raw_features,
        n_classes=info.n_classes,
    )
    task = get_or_create_task(session, stored, split)
    model, params = trial_identity(config, spec)
    funnel = model.get("kind") == "funnel"
    flow = get_or_create_flow(
        session, mlp_flow_name(model), MLP_FLOW_VERSION, family="mlp-funnel" if funnel else "mlp",
        model_spec=model, search_space=FlowSpace(LCBENCH_SPACE, config.max_epochs) if funnel else None,
    )  # fmt: skip
    record = RunRecord(
        task=task,
        setup=get_or_create_setup(session, flow, params),
        seed=config.seed,
        status=status_of(history, finished),
        evaluations=history,
        init=Init.CHECKPOINT if checkpoint is not None else Init.SCRATCH,
        checkpoint=checkpoint,
        hardware=hardware,
        total_seconds=float(sum(r.seconds for r in history)),
    )
    return store_runs(session, [record])[0]


# A funnel's shape is tuned like its learning rate: these join its setup, not its flow.
FUNNEL_PARAMS: Final = ("num_layers", "max_units", "max_dropout")
# The curve-table names of a funnel flow's configurations: LCBench's hyperparameters.
FUNNEL_COLUMNS: Final = LCBENCH_SPACE.names


def trial_identity(config: TrainConfig, spec: ModelSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (flow model spec, setup params) a trial is stored under.

    An `MLPSpec` (depth, width and dropout fixed) is the flow, and the setup is the training
    configuration without its seed, as tunegym has always stored them. A funnel's shape
    (``num_layers``, ``max_units``, ``max_dropout``) is a hyperparameter of LCBench's space like
    the learning rate: its flow is the family (``{"kind": "funnel", "activation": ...}``) and
    the shape joins the setup, so every configuration of the space shares one flow.
    """
    from tunegym.training import spec_to_dict

    model = spec_to_dict(spec)
    params = {k: v for k, v in asdict(config).items() if k != "seed"}
    if model.get("kind") == "funnel":
        params |= {k: model.pop(k) for k in FUNNEL_PARAMS}
    return model, params


def _dataset_identity(label: str) -> tuple[str, str | None, int | None]:
    """(name, spec, OpenML did) of a curve table's dataset label."""
    if ":" not in label:
        return label, None, None
    source, name = label.split(":", 1)
    if source == "openml" and name.isdigit():
        return label, label, int(name)
    from tunegym.data._openml_ids import openml_id_for

    return name, label, openml_id_for(label)


def _check_curve_frame(frame: pd.DataFrame) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"log_curves takes a pandas DataFrame, got {type(frame).__name__}.")
    required = [c for c in CURVE_COLUMNS if c not in OPTIONAL_CURVE_COLUMNS]
    if missing := [c for c in required if c not in frame.columns]:
        raise ValueError(
            f"Curve table lacks the columns {missing}; expected {list(CURVE_COLUMNS)} (the "
            f"last {len(OPTIONAL_CURVE_COLUMNS)} optional: older tables lack them)."
        )
    if frame.empty:
        raise ValueError("The curve table has no rows.")
    keys = ["dataset", "lr", "batch_size", "seed", "epoch"]
    if frame.duplicated(keys).any():
        first = frame[frame.duplicated(keys)].iloc[0][keys].to_dict()
        raise ValueError(f"The curve table has the epoch {first} more than once.")


def _without_missing_values(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``None`` for the optional measures it lacks or has NaN for (its older
    runs): `EpochRecord`-like rows whose ``None`` fields store no evaluation."""
    for column in OPTIONAL_CURVE_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
        elif frame[column].isna().any():
            values = frame[column].astype(object)
            frame[column] = values.where(values.notna(), None)
    return frame


def log_curves(
    session: Session,
    frame: pd.DataFrame,
    *,
    split: SplitSpec,
    model: Mapping[str, Any] | None,
    hardware: str | None,
) -> list[int]:
    """Store a curve table as local runs of one flow; return the run ids (existing ones kept)."""
    _check_curve_frame(frame)
    header = frame.attrs.get("tunegym", {})
    model = model if model is not None else header.get("model")
    if model is None:
        raise ValueError(
            "The curve table has no attrs['tunegym']['model'] (record_curves writes it); "
            "pass model= (e.g. dataclasses.asdict(MLPSpec()))."
        )
    # pandas deep-copies ``attrs`` into every frame and column it derives: with the header of
    # many datasets that copying was most of the time (9 min for the shipped snapshot).
    frame = frame.copy(deep=False)
    frame.attrs = {}
    frame = _without_missing_values(frame)
    grid = SearchGrid(tuple(frame["lr"]), tuple(frame["batch_size"]), int(frame["epoch"].max()))
    flow = get_or_create_flow(
        session, mlp_flow_name(model), MLP_FLOW_VERSION, family="mlp", model_spec=model,
        search_space=grid,
    )  # fmt: skip
    records: list[RunRecord] = []
    for label, part in frame.groupby("dataset", sort=False, observed=True):
        name, spec, did = _dataset_identity(str(label))
        dataset = get_or_create_dataset(session, name, spec=spec, openml_did=did)
        features = header.get("datasets", {}).get(label, {}).get("meta_features")
        if features is not None and len(features) == len(ENV_FEATURE_NAMES):
            names = [ENV_FEATURE_PREFIX + n for n in ENV_FEATURE_NAMES]
            set_meta_features(
                session, dataset.id, dict(zip(names, features, strict=True)),
                MetaFeatureSource.COMPUTED,
            )  # fmt: skip
        task = get_or_create_task(session, dataset, split)
        for (lr, batch_size, seed), run in part.groupby(["lr", "batch_size", "seed"]):
            records.append(
                _curve_run(session, flow, task, grid, run, (lr, batch_size, seed), hardware)
            )
    return store_runs(session, records)


def _curve_run(
    session: Session,
    flow: FlowRef,
    task: TaskRef,
    grid: SearchGrid,
    run: pd.DataFrame,
    config: tuple[Any, Any, Any],
    hardware: str | None,
) -> RunRecord:
    lr, batch_size, seed = config
    run = run.sort_values("epoch")
    where = f"(lr={lr}, batch_size={batch_size}, seed={seed})"
    epochs = run["epoch"].to_numpy()
    if not np.array_equal(epochs, np.arange(1, len(epochs) + 1)):
        raise ValueError(f"Curve {where} has epochs {epochs.tolist()}; expected 1..n without gaps.")
    diverged = run["diverged"].to_numpy(dtype=bool)
    if diverged[:-1].any():
        raise ValueError(f"Curve {where} goes on after its diverged epoch; a diverged run stops.")
    params = {
        "lr": float(lr),
        "batch_size": int(batch_size),
        "max_epochs": grid.max_epochs,
        "weight_decay": 0.0,
    }
    history = cast(list[EpochLike], list(run.itertuples(index=False)))
    return RunRecord(
        task=task,
        setup=get_or_create_setup(session, flow, params),
        seed=int(seed),
        status=RunStatus.DIVERGED if diverged[-1] else RunStatus.OK,
        evaluations=history,
        hardware=hardware,
        total_seconds=float(run["seconds"].sum()),
    )


def _choose_runs(
    session: Session,
    dataset_id: int,
    label: str,
    flow: FlowRef | int | str | None,
    task: TaskRef | int | None,
) -> tuple[int, Flow]:
    """The (task id, flow) whose runs form the curves; ambiguity is an error."""
    query = (
        select(Run.task_id, Flow.id, Flow.name, Flow.version, func.count(Run.id))
        .join(Task, Task.id == Run.task_id)
        .join(Setup, Setup.id == Run.setup_id)
        .join(Flow, Flow.id == Setup.flow_id)
        .where(Task.dataset_id == dataset_id)
        .group_by(Run.task_id, Flow.id, Flow.name, Flow.version)
    )
    if isinstance(flow, FlowRef):
        flow = flow.id
    if isinstance(flow, int):
        query = query.where(Flow.id == flow)
    elif isinstance(flow, str):
        query = query.where(Flow.name == flow)
    if task is not None:
        query = query.where(Run.task_id == (task if isinstance(task, int) else task.id))
    groups = session.execute(query).all()
    if not groups:
        chosen = "" if flow is None and task is None else f" (flow={flow!r}, task={task!r})"
        raise ValueError(f"No runs of dataset {label!r} in the meta-store{chosen}.")
    if len(groups) > 1:
        listed = "; ".join(f"task {t}, flow {f} {n!r} v{v}: {c} runs" for t, f, n, v, c in groups)
        raise ValueError(
            f"Dataset {label!r} has runs of several tasks/flows ({listed}); choose with "
            "flow= (id or name) and task= (id)."
        )
    return groups[0][0], session.get_one(Flow, groups[0][1])


def read_curves(
    session: Session,
    dataset: DatasetRef | int | str,
    flow: FlowRef | int | str | None = None,
    task: TaskRef | int | None = None,
    run_ids: bool = False,
) -> pd.DataFrame:
    """The curve table of one dataset's runs (one task, one flow), header in ``attrs``."""
    row = resolve_dataset(session, dataset)
    label = row.spec or row.name
    task_id, flow_row = _choose_runs(session, row.id, label, flow, task)
    runs_of = (Run.task_id == task_id) & (Setup.flow_id == flow_row.id)
    runs = pd.DataFrame(
        session.execute(
            select(Run.id, Run.seed, Run.status, Setup.params)
            .join(Setup, Setup.id == Run.setup_id)
            .where(runs_of)
        ).all(),
        columns=["run_id", "seed", "status", "params"],
    ).set_index("run_id")
    funnel = (flow_row.model_spec or {}).get("kind") == "funnel"
    try:
        runs["lr"] = [float(p["lr"]) for p in runs["params"]]
        runs["batch_size"] = [int(p["batch_size"]) for p in runs["params"]]
        for name in ("momentum", "weight_decay", *FUNNEL_PARAMS) if funnel else ():
            runs[name] = [p[name] for p in runs["params"]]
    except KeyError:
        raise ValueError(
            f"Setups of flow {flow_row.name!r} have no lr/batch_size: not a curve-table flow."
        ) from None
    rows = session.execute(
        select(
            Evaluation.run_id, Evaluation.measure, Evaluation.split, Evaluation.epoch,
            Evaluation.value, Evaluation.elapsed_seconds,
        )
        .join(Run, Run.id == Evaluation.run_id)
        .join(Setup, Setup.id == Run.setup_id)
        .where(runs_of, Evaluation.epoch.is_not(None))
    ).all()  # fmt: skip
    if not rows:
        raise ValueError(
            f"The runs of dataset {label!r} (task {task_id}, flow {flow_row.name!r}) have no "
            "per-epoch evaluations, only final values: they form no curves."
        )
    frame = _pivot(
        pd.DataFrame(rows, columns=["run_id", "measure", "split", "epoch", "value", "seconds"])
    )
    meta = runs.loc[frame["run_id"]]
    config_columns = (
        ["lr", "batch_size", "momentum", "weight_decay", *FUNNEL_PARAMS]
        if funnel
        else ["lr", "batch_size"]
    )
    if runs.loc[frame["run_id"].unique()].duplicated([*config_columns, "seed"]).any():
        raise ValueError(
            f"Dataset {label!r} has several runs of one (lr, batch_size, seed) in task {task_id}; "
            "their curves cannot form one table."
        )
    last = frame.groupby("run_id")["epoch"].transform("max")
    frame["dataset"] = label
    frame["lr"] = meta["lr"].to_numpy(dtype=np.float64)
    frame["batch_size"] = meta["batch_size"].to_numpy(dtype=np.int64)
    frame["seed"] = meta["seed"].to_numpy(dtype=np.int64)
    for name in config_columns[2:]:  # a funnel flow: the rest of LCBench's configuration
        frame[name] = meta[name].to_numpy()
    frame["diverged"] = (meta["status"].to_numpy() == RunStatus.DIVERGED) & (
        frame["epoch"] == last
    ).to_numpy()
    columns = [*CURVE_COLUMNS, "run_id"] if run_ids else list(CURVE_COLUMNS)
    if funnel:  # the table of a configuration of LCBench's space, under its names
        frame = frame.rename(columns={"lr": "learning_rate"})
        columns = [c for c in columns if c not in ("lr", "batch_size")]
        columns = ["dataset", *FUNNEL_COLUMNS, *columns[1:]]
    frame = frame[columns].sort_values(
        [c for c in columns if c in (*config_columns, "learning_rate", "seed", "epoch")]
    )
    frame = frame.reset_index(drop=True)
    frame.columns.name = None
    frame.attrs["tunegym"] = _header(session, row.id, label, flow_row)
    return frame


def _pivot(long: pd.DataFrame) -> pd.DataFrame:
    """(run, epoch) rows with one column per `EPOCH_MEASURES` field, plus ``seconds``."""
    column_of = {f"{m}|{s.value}": name for name, (m, s) in EPOCH_MEASURES.items()}
    long["column"] = (long["measure"] + "|" + long["split"].astype(str)).map(column_of)
    long = long.dropna(subset=["column"])
    wide = long.pivot(index=["run_id", "epoch"], columns="column", values="value")
    wide = wide.reindex(columns=list(EPOCH_MEASURES)).astype(np.float64)
    wide["seconds"] = long.groupby(["run_id", "epoch"])["seconds"].first().astype(np.float64)
    wide = wide.reset_index()
    wide["epoch"] = wide["epoch"].astype(np.int64)
    return wide


def _header(session: Session, dataset_id: int, label: str, flow: Flow) -> dict[str, Any]:
    """The ``attrs["tunegym"]`` header of `record_curves`: the model and the env features."""
    names = [ENV_FEATURE_PREFIX + n for n in ENV_FEATURE_NAMES]
    stored = dict(
        session.execute(
            select(MetaFeature.name, MetaFeature.value).where(
                MetaFeature.dataset_id == dataset_id,
                MetaFeature.source == MetaFeatureSource.COMPUTED,
                MetaFeature.name.in_(names),
            )
        ).all()
    )
    datasets = {}
    if len(stored) == len(names):
        datasets[label] = {"meta_features": [stored[n] for n in names]}
    return {
        "model": flow.model_spec,
        "flow": {"name": flow.name, "version": flow.version},
        "datasets": datasets,
    }
