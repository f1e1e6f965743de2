"""Parquet export and import: one file per table and a JSON manifest, merged by natural keys.

The model zoo travels too (``zoo_models.parquet``, the weights a binary column).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Integer, Select, func, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.types import JSON

from tunegym.metastore._entities import (
    existing_runs,
    get_or_create_dataset,
    get_or_create_flow,
    get_or_create_setup,
    get_or_create_task,
    lock_run_keys,
    run_key,
)
from tunegym.metastore._schema import (
    EVALUATION_TABLE,
    Base,
    Dataset,
    Evaluation,
    Flow,
    MetaFeature,
    Run,
    Setup,
    Task,
    ZooModel,
)
from tunegym.metastore._values import SplitSpec, TableCounts, flow_space_from_json

__all__ = ["EXPORT_FORMAT", "EXPORT_VERSION", "export_parquet", "import_parquet", "table_counts"]

EXPORT_FORMAT = "tunegym.metastore"
EXPORT_VERSION = 2
MANIFEST = "manifest.json"
# Older export versions still read, with the schema revision they were written at. Version 1
# predates the model zoo (revision 0002 only added it): its zoo reads as empty.
_OLDER_EXPORTS = {1: "0001"}
# Revisions that changed no exported table read as the newest: 0003 added only `report_key` (the
# warm-start service's idempotency keys), 0004 only `collect_claim` (collectors' claims on jobs);
# neither is exported.
_SAME_EXPORT = {"0002": "0004", "0003": "0004"}
_ADDED_IN_VERSION = {"zoo_models": 2}

# TableCounts field -> model, in the order that foreign keys allow inserting them.
_TABLES: dict[str, type[Base]] = {
    "datasets": Dataset,
    "meta_features": MetaFeature,
    "tasks": Task,
    "flows": Flow,
    "setups": Setup,
    "runs": Run,
    "evaluations": Evaluation,
    "zoo_models": ZooModel,
}


def table_counts(session: Session) -> TableCounts:
    """Rows in every table."""
    counts = {
        name: session.scalar(select(func.count()).select_from(model)) or 0
        for name, model in _TABLES.items()
    }
    return TableCounts(**counts)


def _selections(dataset_ids: Sequence[int] | None) -> dict[str, Select[Any]]:
    tables = {name: select(model.__table__) for name, model in _TABLES.items()}
    if dataset_ids is None:
        return tables
    ids = list(dataset_ids)
    runs = select(Run.id).join(Task, Task.id == Run.task_id).where(Task.dataset_id.in_(ids))
    setups = select(Run.setup_id).where(Run.id.in_(runs))
    return {
        "datasets": tables["datasets"].where(Dataset.id.in_(ids)),
        "meta_features": tables["meta_features"].where(MetaFeature.dataset_id.in_(ids)),
        "tasks": tables["tasks"].where(Task.dataset_id.in_(ids)),
        "flows": tables["flows"].where(
            Flow.id.in_(select(Setup.flow_id).where(Setup.id.in_(setups)))
        ),
        "setups": tables["setups"].where(Setup.id.in_(setups)),
        "runs": tables["runs"].where(Run.id.in_(runs)),
        "evaluations": tables["evaluations"].where(Evaluation.run_id.in_(runs)),
        "zoo_models": tables["zoo_models"].where(ZooModel.dataset_id.in_(ids)),
    }


def _to_frame(session: Session, model: type[Base], statement: Select[Any]) -> pd.DataFrame:
    columns = model.__table__.columns
    frame = pd.DataFrame(session.execute(statement).all(), columns=[c.name for c in columns])
    for column in columns:
        series = frame[column.name]
        if isinstance(column.type, JSON):
            frame[column.name] = [None if v is None else json.dumps(v) for v in series]
        elif getattr(column.type, "enum_class", None) is not None:
            frame[column.name] = series.map(lambda member: member.value).astype(object)
        elif isinstance(column.type, Integer):
            frame[column.name] = series.astype("Int64")
    return frame


def export_parquet(
    session: Session, directory: Path, dataset_ids: Sequence[int] | None, revision: str
) -> TableCounts:
    """Write the store (or the given datasets with their runs) as Parquet files + manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, statement in _selections(dataset_ids).items():
        frame = _to_frame(session, _TABLES[name], statement)
        frame.to_parquet(directory / f"{name}.parquet", index=False)
        counts[name] = len(frame)
    labels = session.execute(
        _selections(dataset_ids)["datasets"].with_only_columns(Dataset.spec, Dataset.name)
    ).all()
    manifest = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "alembic_revision": revision,
        "exported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "datasets": sorted(spec or name for spec, name in labels),
        "counts": counts,
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return TableCounts(**counts)


def _read(directory: Path, revision: str) -> dict[str, pd.DataFrame]:
    path = directory / MANIFEST
    if not path.exists():
        raise FileNotFoundError(
            f"No {MANIFEST} in {directory}; export a store with MetaStore.export_parquet."
        )
    manifest = json.loads(path.read_text())
    version = manifest.get("version")
    if manifest.get("format") != EXPORT_FORMAT or (
        version != EXPORT_VERSION and version not in _OLDER_EXPORTS
    ):
        raise ValueError(
            f"{directory} is not a tunegym meta-store export of version {EXPORT_VERSION} "
            f"(format {manifest.get('format')!r}, version {version!r})."
        )
    revision = revision if version == EXPORT_VERSION else _OLDER_EXPORTS[version]
    written = manifest.get("alembic_revision")
    if _SAME_EXPORT.get(str(written), written) != revision:
        raise ValueError(
            f"{directory} was exported at schema revision {manifest.get('alembic_revision')!r}; "
            f"this tunegym reads revision {revision!r}. Open it with the tunegym that wrote it, "
            "or migrate a store of that revision first and export again."
        )
    frames = {}
    for name, model in _TABLES.items():
        if version < _ADDED_IN_VERSION.get(name, 0):
            frames[name] = pd.DataFrame(columns=[c.name for c in model.__table__.columns])
            continue
        frame = pd.read_parquet(directory / f"{name}.parquet")
        for column in model.__table__.columns:
            if isinstance(column.type, JSON):
                frame[column.name] = [
                    None if v is None else json.loads(v) for v in frame[column.name]
                ]
        frames[name] = frame.astype(object).where(frame.notna(), None)
    return frames


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict("records")  # type: ignore[return-value]


def import_parquet(session: Session, directory: Path, revision: str) -> TableCounts:
    """Merge an export into the store: ids remapped, existing datasets/setups/runs reused.

    Datasets match by spec, OpenML did or name (`get_or_create_dataset`), tasks by split, flows
    by name and version, setups by hash, runs by natural key; existing meta-features are kept.
    Returns the rows added per table.
    """
    frames = _read(directory, revision)
    before = table_counts(session)
    stored = {model: set(session.scalars(select(model.id))) for model in (Dataset, Flow)}
    datasets = {
        row["id"]: get_or_create_dataset(
            session, row["name"], spec=row["spec"], openml_did=row["openml_did"],
            source=row["source"], n_rows=row["n_rows"], n_features=row["n_features"],
            n_classes=row["n_classes"],
        ).id
        for row in _rows(frames["datasets"])
    }  # fmt: skip
    _keep_created(session, Dataset, frames["datasets"], datasets, stored[Dataset])
    _import_meta_features(session, frames["meta_features"], datasets)
    tasks = {
        row["id"]: get_or_create_task(
            session,
            datasets[row["dataset_id"]],
            SplitSpec(
                row["procedure"], row["split_seed"], row["val_size"], row["test_size"],
                row["n_folds"], row["fold"],
            ),
            row["openml_task_id"],
        ).id
        for row in _rows(frames["tasks"])
    }  # fmt: skip
    flows = {
        row["id"]: get_or_create_flow(
            session, row["name"], row["version"], family=row["family"],
            model_spec=row["model_spec"], openml_flow_id=row["openml_flow_id"],
            search_space=flow_space_from_json(row["search_space"]),
        ).id
        for row in _rows(frames["flows"])
    }  # fmt: skip
    _keep_created(session, Flow, frames["flows"], flows, stored[Flow])
    setups = {
        row["id"]: get_or_create_setup(session, flows[row["flow_id"]], row["params"]).id
        for row in _rows(frames["setups"])
    }
    runs, stored_runs = _import_runs(session, frames["runs"], tasks, setups)
    evaluations = frames["evaluations"]
    evaluations = evaluations[evaluations["run_id"].isin(runs)].drop(columns="id")
    if len(evaluations):
        evaluations["run_id"] = evaluations["run_id"].map(runs)
        session.execute(insert(EVALUATION_TABLE), _rows(evaluations))
    _import_zoo(session, frames["zoo_models"], datasets, {**stored_runs, **runs})
    after = table_counts(session)
    return TableCounts(
        **{f.name: getattr(after, f.name) - getattr(before, f.name) for f in fields(after)}
    )


def _keep_created(
    session: Session,
    model: type[Dataset] | type[Flow],
    frame: pd.DataFrame,
    ids: dict[int, int],
    stored: set[int],
) -> None:
    """Give the rows that the import added their exported creation time."""
    for old, created in zip(frame["id"], frame["created"], strict=True):
        if ids[old] not in stored:
            session.execute(update(model).where(model.id == ids[old]).values(created=created))


def _import_meta_features(session: Session, frame: pd.DataFrame, datasets: dict[int, int]) -> None:
    stored = set(
        session.execute(
            select(MetaFeature.dataset_id, MetaFeature.name, MetaFeature.source).where(
                MetaFeature.dataset_id.in_(set(datasets.values()))
            )
        ).all()
    )
    rows = []
    for row in _rows(frame.drop(columns="id")):
        row["dataset_id"] = datasets[row["dataset_id"]]
        if (row["dataset_id"], row["name"], row["source"]) not in stored:
            rows.append(row)
    if rows:
        session.execute(insert(MetaFeature), rows)


def _import_runs(
    session: Session, frame: pd.DataFrame, tasks: dict[int, int], setups: dict[int, int]
) -> tuple[dict[int, int], dict[int, int]]:
    """Insert the runs whose natural key is new.

    Returns:
        Old id -> new id of the inserted runs, and old id -> stored id of those already stored.
    """
    exported = _rows(frame)
    keys = []
    for row in exported:
        row["task_id"], row["setup_id"] = tasks[row["task_id"]], setups[row["setup_id"]]
        keys.append(
            run_key(
                row["task_id"], row["setup_id"], row["seed"], row["source"], row["init"],
                row["checkpoint"], row["openml_run_id"],
            )
        )  # fmt: skip
    lock_run_keys(session, keys)  # before reading what is stored
    stored = existing_runs(session, set(tasks.values()))
    old_ids, rows, kept = [], [], {}
    for key, row in zip(keys, exported, strict=True):
        if key in stored:
            if stored[key][0] >= 0:
                kept[row["id"]] = stored[key][0]
            continue
        stored[key] = (-1, 0)  # a duplicate within the export is skipped too
        old_ids.append(row.pop("id"))
        rows.append(row)
    if not rows:
        return {}, kept
    statement = insert(Run).returning(Run.id, sort_by_parameter_order=True)
    return dict(zip(old_ids, session.scalars(statement, rows), strict=True)), kept


def _import_zoo(
    session: Session, frame: pd.DataFrame, datasets: dict[int, int], runs: dict[int, int]
) -> None:
    """Insert the zoo models not stored yet (by dataset and SHA-256), their weights checked.

    A model whose name is taken by another one is renamed ``<name>-<8 hex of its SHA-256>``;
    one whose run did not come along keeps no run.
    """
    stored = {(d, sha) for d, sha in session.execute(select(ZooModel.dataset_id, ZooModel.sha256))}
    names = set(session.scalars(select(ZooModel.name)))
    for row in _rows(frame.drop(columns="id")):
        row["dataset_id"] = datasets[row["dataset_id"]]
        if (row["dataset_id"], row["sha256"]) in stored:
            continue
        if hashlib.sha256(row["weights"]).hexdigest() != row["sha256"]:
            raise ValueError(
                f"The weights of zoo model {row['name']!r} in the export do not match their "
                "SHA-256; export the store again."
            )
        row["run_id"] = None if row["run_id"] is None else runs.get(row["run_id"])
        if row["name"] in names:
            row["name"] = f"{row['name']}-{row['sha256'][:8]}"
        stored.add((row["dataset_id"], row["sha256"]))
        names.add(row["name"])
        session.execute(insert(ZooModel), [row])
