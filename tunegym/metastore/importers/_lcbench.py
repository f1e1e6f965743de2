"""YAHPO Gym's LCBench surrogate as meta-store runs: each predicted curve one OpenML-shaped run.

Each LCBench task becomes a dataset (its OpenML name; the OpenML *dataset* id is not known
offline and stays NULL) with one task (its OpenML task id in ``openml_task_id``; a hold-out
split whose seed and shares LCBench does not publish, so they are NULL). The surrogate is one
flow, ``lcbench-surrogate`` (family ``mlp-funnel``), whose model spec names the model (and its
SHA-256) and holds the 7-hyperparameter search space: the flow table's own ``search_space``
column holds tunegym's lr x batch-size grids only. A configuration is a setup (the 7 values
under LCBench's names), and its predicted curve on a task is a run of seed 0 with source
``surrogate``: per epoch, the five scores under `EPOCH_MEASURES`' names and splits with the
epoch's seconds, and the last epoch's values again as the run's final ones (``epoch`` NULL).

Importing is idempotent: a (task, setup) that already has a surrogate run is skipped.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import select

from tunegym.metastore._schema import Run, Task
from tunegym.metastore._values import (
    EPOCH_MEASURES,
    DataSplit,
    EvaluationRow,
    Procedure,
    RunRecord,
    RunStatus,
    Source,
    SplitSpec,
)

if TYPE_CHECKING:
    import pandas as pd

    from tunegym.metastore._store import MetaStore
    from tunegym.surrogates import LCBench

__all__ = [
    "LCBENCH_FAMILY",
    "LCBENCH_FLOW_NAME",
    "LCBENCH_FLOW_VERSION",
    "LCBENCH_MEASURES",
    "LCBENCH_SPLIT",
    "LCBenchCurve",
    "LCBenchImportSummary",
    "import_lcbench",
    "lcbench_model_spec",
    "read_lcbench_curves",
]

LCBENCH_FLOW_NAME: Final = "lcbench-surrogate"
LCBENCH_FLOW_VERSION: Final = "1"
LCBENCH_FAMILY: Final = "mlp-funnel"
DEFAULT_N_CONFIGS: Final = 100

# Surrogate column -> (measure, split): the names tunegym's own curves use (EPOCH_MEASURES).
# The model predicts no test accuracy.
LCBENCH_MEASURES: Final[dict[str, tuple[str, DataSplit]]] = {
    "val_accuracy": EPOCH_MEASURES["val_accuracy"],
    "val_balanced_accuracy": EPOCH_MEASURES["val_balanced_accuracy"],
    "val_cross_entropy": EPOCH_MEASURES["val_loss"],
    "test_balanced_accuracy": EPOCH_MEASURES["test_balanced_accuracy"],
    "test_cross_entropy": EPOCH_MEASURES["test_loss"],
}

# LCBench split each dataset once into train/validation/test; its seed and shares are not
# published with the surrogate, so they are NULL (the key spells them out as None).
LCBENCH_SPLIT: Final = SplitSpec(Procedure.HOLDOUT, seed=None, val_size=None, test_size=None)


@dataclass(frozen=True)
class LCBenchCurve:
    """One predicted learning curve: a configuration on a task.

    Attributes:
        task: the OpenML task id.
        task_name: the OpenML dataset name.
        params: the 7 hyperparameters under LCBench's names.
        evaluations: per-epoch rows (`LCBENCH_MEASURES`, ``elapsed_seconds`` that epoch's
            seconds), then the last epoch's values as the final ones (``epoch`` ``None``).
        total_seconds: the predicted time of all epochs.
    """

    task: int
    task_name: str
    params: dict[str, float]
    evaluations: tuple[EvaluationRow, ...]
    total_seconds: float


@dataclass(frozen=True)
class LCBenchImportSummary:
    """What `import_lcbench` did.

    Attributes:
        datasets: datasets it used (found or added).
        tasks: tasks it used (found or added).
        setups: distinct setups (configurations) it used (found or added).
        runs: runs added.
        skipped_runs: runs already stored, not added again.
        evaluations: evaluation rows added.
    """

    datasets: int = 0
    tasks: int = 0
    setups: int = 0
    runs: int = 0
    skipped_runs: int = 0
    evaluations: int = 0


def lcbench_model_spec(surrogate: LCBench) -> dict[str, Any]:
    """The ``lcbench-surrogate`` flow's model spec: the model, its family and search space."""
    from tunegym.surrogates import LCBENCH_MODEL_SHA256

    return {
        "name": "YAHPO Gym LCBench surrogate",
        "model": "yahpo_data lcbench/model.onnx (commit efdab90)",
        "model_sha256": LCBENCH_MODEL_SHA256,
        "benchmark": "LCBench (Zimmer et al. 2021), surrogate by YAHPO Gym (Pfisterer et al. 2022)",
        "network": "funnel-shaped MLP, SGD with momentum, cosine-annealed learning rate",
        "max_epochs": surrogate.epochs,
        "search_space": {
            h.name: {"lower": h.lower, "upper": h.upper, "log": h.log, "integer": h.integer}
            for h in surrogate.hyperparameters
        },
    }


def read_lcbench_curves(
    surrogate: LCBench,
    configs: Sequence[Mapping[str, float]],
    tasks: Collection[int | str] | None = None,
) -> Iterator[LCBenchCurve]:
    """Yield the surrogate's 52-epoch curve of every configuration on every task.

    One model call per task (all configurations batched).

    Args:
        surrogate: the opened surrogate.
        configs: configurations (see `LCBench.check_config`).
        tasks: OpenML task ids or dataset names; ``None``: all 34.

    Raises:
        ValueError: an unknown task or an invalid configuration.
    """
    task_ids = _task_ids(surrogate, tasks)
    for task in task_ids:
        frame = surrogate.curves(task, configs, epochs=surrogate.epochs)
        length = surrogate.epochs  # rows are ordered by config, then epoch
        for index, config in enumerate(configs):
            yield _curve(surrogate, task, config, frame.iloc[index * length : (index + 1) * length])


def _task_ids(surrogate: LCBench, tasks: Collection[int | str] | None) -> list[int]:
    if tasks is None:
        return list(surrogate.tasks)
    if isinstance(tasks, str | int):
        raise TypeError(f"tasks must be a collection of tasks (e.g. [{tasks!r}]), got {tasks!r}.")
    return list(dict.fromkeys(surrogate.resolve_task(t) for t in tasks))


def _curve(
    surrogate: LCBench, task: int, config: Mapping[str, float], curve: pd.DataFrame
) -> LCBenchCurve:
    epochs = curve["epoch"].to_numpy().tolist()
    seconds = curve["seconds"].to_numpy().tolist()
    rows = [
        EvaluationRow(measure, split, float(value), int(epoch), float(secs))
        for column, (measure, split) in LCBENCH_MEASURES.items()
        for epoch, secs, value in zip(epochs, seconds, curve[column].to_numpy().tolist(),
                                      strict=True)
    ]  # fmt: skip
    last = curve.iloc[-1]
    finals = [
        EvaluationRow(measure, split, float(last[column]), None, None)
        for column, (measure, split) in LCBENCH_MEASURES.items()
    ]
    return LCBenchCurve(
        task=task,
        task_name=surrogate.task_names[task],
        params=_setup_params(surrogate, config),
        evaluations=(*rows, *finals),
        total_seconds=float(last["time"]),
    )


def _dataset_of_task(store: MetaStore, openml_task_id: int) -> int | None:
    """The dataset of a stored task with this OpenML id (e.g. from an OpenML import)."""
    query = select(Task.dataset_id).where(Task.openml_task_id == openml_task_id)
    with store.engine.connect() as connection:
        return connection.execute(query).scalar()


def _stored_pairs(store: MetaStore, task_ids: Collection[int]) -> set[tuple[int, int]]:
    """(task id, setup id) of the surrogate runs stored on these tasks."""
    query = select(Run.task_id, Run.setup_id).where(
        Run.task_id.in_(list(task_ids)), Run.source == Source.SURROGATE
    )
    with store.engine.connect() as connection:
        return {(int(t), int(s)) for t, s in connection.execute(query)}


def import_lcbench(
    store: MetaStore,
    surrogate: LCBench,
    tasks: Collection[int | str] | None = None,
    configs: Sequence[Mapping[str, float]] | None = None,
    n_configs: int | None = None,
    seed: int = 0,
) -> LCBenchImportSummary:
    """Store the surrogate's curves of some configurations on some LCBench tasks as runs.

    Every task gets the same configurations (as in LCBench, which ran one set of 2000 on all
    of its tasks). Idempotent: importing again adds nothing; more configurations add only
    their runs.

    Args:
        store: where to write.
        surrogate: the opened surrogate (`tunegym.surrogates.LCBench.open`).
        tasks: OpenML task ids or dataset names; ``None``: all 34.
        configs: the configurations; ``None`` draws ``n_configs`` with ``seed``
            (`LCBench.sample_configs`).
        n_configs: how many to draw (default 100); not with ``configs``.
        seed: the seed of the draw.

    Returns:
        What was added, and how many runs were already stored.

    Raises:
        ValueError: an unknown task, an invalid configuration, or both ``configs`` and
            ``n_configs``.

    Example:
        >>> from tunegym.metastore import MetaStore
        >>> from tunegym.surrogates import LCBench
        >>> with MetaStore(":memory:") as store:
        ...     import_lcbench(store, LCBench.open(), tasks=["adult"], n_configs=2).runs
        2
    """
    if configs is not None and n_configs is not None:
        raise ValueError("Pass configs or n_configs, not both.")
    if configs is None:
        configs = surrogate.sample_configs(
            DEFAULT_N_CONFIGS if n_configs is None else n_configs, seed
        )
    task_ids = _task_ids(surrogate, tasks)
    for i, config in enumerate(configs):  # all checked before anything is written
        surrogate.check_config(config, f"configs[{i}]")
    if not configs or not task_ids:
        return LCBenchImportSummary()
    flow = store.get_or_create_flow(
        LCBENCH_FLOW_NAME,
        LCBENCH_FLOW_VERSION,
        family=LCBENCH_FAMILY,
        model_spec=lcbench_model_spec(surrogate),
    )
    setups = [store.get_or_create_setup(flow, _setup_params(surrogate, c)) for c in configs]
    datasets: set[int] = set()
    stored_tasks: dict[int, int] = {}
    for task in task_ids:
        dataset_id = _dataset_of_task(store, task)
        if dataset_id is None:
            dataset_id = store.get_or_create_dataset(
                surrogate.task_names[task], source=Source.SURROGATE
            ).id
        datasets.add(dataset_id)
        stored_tasks[task] = store.get_or_create_task(
            dataset_id, LCBENCH_SPLIT, openml_task_id=task
        ).id
    known = _stored_pairs(store, stored_tasks.values())
    added, skipped, evaluations = 0, 0, 0
    for task in task_ids:
        todo: dict[int, int] = {}  # setup id -> its first config (repeated configs: one run)
        for i, setup in enumerate(setups):
            if (stored_tasks[task], setup.id) not in known:
                todo.setdefault(setup.id, i)
        skipped += len({s.id for s in setups}) - len(todo)
        if not todo:
            continue
        records = []
        curves = read_lcbench_curves(surrogate, [configs[i] for i in todo.values()], [task])
        for setup_id, curve in zip(todo, curves, strict=True):
            known.add((stored_tasks[task], setup_id))
            records.append(
                RunRecord(
                    stored_tasks[task],
                    setup_id,
                    0,
                    RunStatus.OK,
                    curve.evaluations,
                    source=Source.SURROGATE,
                    total_seconds=curve.total_seconds,
                )
            )
            evaluations += len(curve.evaluations)
        store.add_runs(records)
        added += len(records)
    return LCBenchImportSummary(
        datasets=len(datasets),
        tasks=len(stored_tasks),
        setups=len({s.id for s in setups}),
        runs=added,
        skipped_runs=skipped,
        evaluations=evaluations,
    )


def _setup_params(surrogate: LCBench, config: Mapping[str, float]) -> dict[str, float]:
    values = surrogate.check_config(config)
    return {
        h.name: round(v) if h.integer else v
        for h, v in zip(surrogate.hyperparameters, values, strict=True)
    }
