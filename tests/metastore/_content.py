"""A store's content with every id replaced by the natural key it stands for (to compare stores)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from sqlalchemy import select

from tunegym.metastore import Dataset, Evaluation, Flow, MetaFeature, MetaStore, Run, Setup, Task


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if hasattr(value, "value"):  # enums
        return value.value
    return value


def _rows(store: MetaStore, statement: Any) -> Counter[tuple[Any, ...]]:
    with store.engine.connect() as connection:
        return Counter(tuple(_plain(v) for v in row) for row in connection.execute(statement))


def content(store: MetaStore) -> dict[str, Counter[tuple[Any, ...]]]:
    """Each table as a multiset of rows, ids replaced by (spec or name, key, name+version…)."""
    dataset = [Dataset.spec, Dataset.name, Dataset.openml_did]
    run = [*dataset, Task.key, Flow.name, Flow.version, Setup.hash, Run.seed, Run.source]
    runs = (
        select()
        .select_from(Run)
        .join(Task, Task.id == Run.task_id)
        .join(Dataset, Dataset.id == Task.dataset_id)
        .join(Setup, Setup.id == Run.setup_id)
        .join(Flow, Flow.id == Setup.flow_id)
    )
    return {
        "datasets": _rows(
            store,
            select(
                *dataset,
                Dataset.source,
                Dataset.n_rows,
                Dataset.n_features,
                Dataset.n_classes,
                Dataset.created,
            ),
        ),
        "meta_features": _rows(
            store,
            select(*dataset, MetaFeature.name, MetaFeature.value, MetaFeature.source).join(
                Dataset, Dataset.id == MetaFeature.dataset_id
            ),
        ),
        "tasks": _rows(
            store,
            select(
                *dataset,
                Task.key,
                Task.openml_task_id,
                Task.procedure,
                Task.split_seed,
                Task.n_folds,
                Task.fold,
                Task.val_size,
                Task.test_size,
            ).join(Dataset, Dataset.id == Task.dataset_id),
        ),
        "flows": _rows(
            store,
            select(
                Flow.name,
                Flow.version,
                Flow.family,
                Flow.search_space,
                Flow.model_spec,
                Flow.openml_flow_id,
                Flow.created,
            ),
        ),
        "setups": _rows(
            store,
            select(Flow.name, Flow.version, Setup.hash, Setup.params).join(
                Flow, Flow.id == Setup.flow_id
            ),
        ),
        "runs": _rows(
            store,
            runs.add_columns(
                *run,
                Run.status,
                Run.init,
                Run.checkpoint,
                Run.openml_run_id,
                Run.hardware,
                Run.created,
                Run.total_seconds,
            ),
        ),
        "evaluations": _rows(
            store,
            runs.join(Evaluation, Evaluation.run_id == Run.id).add_columns(
                *run,
                Evaluation.measure,
                Evaluation.split,
                Evaluation.value,
                Evaluation.epoch,
                Evaluation.elapsed_seconds,
            ),
        ),
    }
