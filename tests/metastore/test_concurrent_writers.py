"""Many processes writing one store: exact rows, no error reaching the user, one migration.

Spawned workers open one fresh database at the same moment (so the first open migrates while
the others wait), then log trials epoch by epoch as live tuning does, on shared datasets, flows
and setups (so every get-or-create is raced), and log the same trials (in pairs, and one trial
all together) and the same curve tables (in pairs), so the idempotent writes are raced. The
store must end up holding exactly what the same writes give when made one after another.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import sqlite3
import traceback
from collections import Counter
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from tunegym.data import TabularDataset, load_dataset
from tunegym.errors import MetaStoreWriteError
from tunegym.metastore import (
    CURVE_COLUMNS,
    ENV_FEATURE_NAMES,
    Dataset,
    Evaluation,
    Flow,
    MetaFeature,
    MetaStore,
    Run,
    Setup,
    Task,
    _entities,
    _retry,
)
from tunegym.metastore._engine import head_revision
from tunegym.metastore._entities import lock_run_keys
from tunegym.metastore._retry import retrying
from tunegym.training import EpochRecord, MLPSpec, TrainConfig

TRIALS = 5  # per writer, all writers sharing their setups
EPOCHS = 3
LRS = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
SPECS = (MLPSpec(depth=1, width=8), MLPSpec(depth=1, width=16))
CURVE_SPEC = MLPSpec(depth=1, width=4)
MEASURES_PER_EPOCH = 13  # train loss and the six val and six test measures of `_record`
TIMEOUT_S = 120


def _record(epoch: int, trial: int) -> EpochRecord:
    loss = 1.0 / (epoch + trial + 1)
    return EpochRecord(
        epoch, loss, loss, 1 - loss / 2, 1 - loss / 3, loss, 0.5, 0.4, 0.01, False,
        0.3, 0.3, 0.3, 0.2, 0.2, 0.2,
    )  # fmt: skip


def _curve_table(lr: float) -> pd.DataFrame:
    """A curve table of one learning rate, two seeds, on ``sklearn:wine``, with env features."""
    rows = [
        {**dataclasses.asdict(_record(epoch, seed)), "dataset": "sklearn:wine", "lr": lr,
         "batch_size": 32, "seed": seed, "epoch": epoch}
        for seed in (0, 1)
        for epoch in range(1, EPOCHS + 1)
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=list(CURVE_COLUMNS))
    features = [0.25] * len(ENV_FEATURE_NAMES)
    frame.attrs["tunegym"] = {
        "model": dataclasses.asdict(CURVE_SPEC),
        "datasets": {"sklearn:wine": {"meta_features": features}},
    }
    return frame


def write_like_a_tuner(store: MetaStore, worker: int, datasets: list[TabularDataset]) -> None:
    """One writer's work: its trials logged after every epoch, with one trial it shares with the
    writer next to it (``worker ^ 1``) and one every writer logs, then a curve table that the
    writer next to it logs too."""
    trials = [
        (datasets[t % 2], TrainConfig(LRS[t], 16, EPOCHS, seed=worker), SPECS[t % 2])
        for t in range(TRIALS)
    ]
    shared = [100 + worker // 2, 999]  # with the writer next to it; with every writer
    trials += [(datasets[0], TrainConfig(LRS[0], 16, EPOCHS, seed=s), SPECS[0]) for s in shared]
    for epoch in range(1, EPOCHS + 1):
        for t, (dataset, config, spec) in enumerate(trials):
            history = [_record(e, t) for e in range(1, epoch + 1)]
            store.log_trial(dataset, config, spec, history, hardware="test rig")
    store.log_curves(_curve_table(LRS[worker // 2]), hardware="test rig")


def writer(url: str, worker: int, start: Barrier, results: Queue[tuple[int, str | None]]) -> None:
    """A spawned writer: wait for the others, open the store, write; report any error."""
    try:
        datasets = [load_dataset("sklearn:iris", seed=seed) for seed in (0, 1)]
        start.wait(timeout=TIMEOUT_S)
        with MetaStore(url) as store:
            write_like_a_tuner(store, worker, datasets)
        results.put((worker, None))
    except BaseException:
        results.put((worker, traceback.format_exc()))


def _run_writers(url: str, writers: int) -> dict[int, str | None]:
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(writers), context.Queue()
    processes = [
        context.Process(target=writer, args=(url, worker, start, results))
        for worker in range(writers)
    ]
    for process in processes:
        process.start()
    try:
        return dict(results.get(timeout=TIMEOUT_S) for _ in processes)
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()


def _summary(store: MetaStore) -> dict[str, Any]:
    """What the store holds, free of ids and timestamps (which differ between stores)."""
    runs = (
        select(
            Task.key, Flow.name, Setup.hash, Run.seed, Run.status,
            func.count(Evaluation.id), func.max(Evaluation.epoch),
        )
        .join(Task, Task.id == Run.task_id)
        .join(Setup, Setup.id == Run.setup_id)
        .join(Flow, Flow.id == Setup.flow_id)
        .outerjoin(Evaluation, Evaluation.run_id == Run.id)
        .group_by(Run.id, Task.key, Flow.name, Setup.hash)
    )  # fmt: skip
    with store.engine.connect() as connection:
        return {
            "stats": store.stats(),
            "meta_features": Counter(
                connection.execute(
                    select(Dataset.spec, MetaFeature.name, MetaFeature.value).join(Dataset)
                ).all()
            ),
            "flows": dict(connection.execute(select(Flow.name, Flow.search_space)).all()),
            "runs": Counter(tuple(map(str, row)) for row in connection.execute(runs)),
        }


def _serial_summary(writers: int) -> dict[str, Any]:
    """The same writes, one writer after the other, into an in-memory store."""
    datasets = [load_dataset("sklearn:iris", seed=seed) for seed in (0, 1)]
    with MetaStore(":memory:") as store:
        for worker in range(writers):
            write_like_a_tuner(store, worker, datasets)
        return _summary(store)


@pytest.mark.parametrize(
    ("kind", "writers"),
    [("postgresql", 4), pytest.param("postgresql", 8, marks=pytest.mark.slow), ("sqlite", 4)],
)
def test_concurrent_writers_store_exactly_what_serial_writers_store(
    kind: str, writers: int, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = (
        request.getfixturevalue("fresh_postgres")
        if kind == "postgresql"
        else f"sqlite:///{tmp_path / 'store.sqlite'}"
    )
    errors = _run_writers(url, writers)
    assert errors == dict.fromkeys(range(writers)), "\n".join(filter(None, errors.values()))

    with MetaStore(url) as store:
        with store.engine.connect() as connection:  # migrated once, to head
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        assert versions == [(head_revision(),)]
        got = _summary(store)
    stats = got["stats"]
    shared = writers // 2 + 1  # a trial per pair of writers, one of all writers
    curves = writers // 2 * 2  # a table per pair of writers, of two seeds
    runs = writers * TRIALS + shared + curves
    assert (stats.datasets, stats.tasks, stats.flows) == (2, 3, 3)
    assert stats.setups == TRIALS + writers // 2
    assert stats.runs == runs
    assert stats.epochs == runs * EPOCHS
    assert stats.evaluations == runs * (EPOCHS + 1) * MEASURES_PER_EPOCH
    assert got == _serial_summary(writers)


class _Deadlock(Exception):
    sqlstate = "40P01"  # as psycopg's errors carry it


def test_lost_races_are_retried_and_other_errors_are_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_retry, "_FIRST_DELAY_S", 0.0)
    duplicate = IntegrityError(
        "INSERT …", {}, sqlite3.IntegrityError("UNIQUE constraint failed: t.x")
    )
    lost = [duplicate, OperationalError("UPDATE …", {}, _Deadlock("deadlock detected\nDETAIL: …"))]
    calls = []

    def work() -> str:
        calls.append(1)
        if lost:
            raise lost.pop(0)
        return "done"

    assert retrying(work, "log_trial", "sqlite://") == "done"
    assert len(calls) == 3

    def refused() -> None:
        calls.append(1)
        raise IntegrityError(
            "INSERT …", {}, sqlite3.IntegrityError("NOT NULL constraint failed: t.y")
        )

    calls.clear()
    with pytest.raises(MetaStoreWriteError, match=r"^add_runs could not write .*NOT NULL") as info:
        retrying(refused, "add_runs", "sqlite://")
    assert len(calls) == 1
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_a_write_that_keeps_conflicting_fails_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_retry, "_FIRST_DELAY_S", 0.0)
    with MetaStore(":memory:") as store:
        task = store.get_or_create_task(store.get_or_create_dataset("toy"))
        setup = store.get_or_create_setup(store.get_or_create_flow("toy.flow"), {"lr": 0.1})
        store.add_run(task, setup, 0, "ok", openml_run_id=9)
        with pytest.raises(MetaStoreWriteError) as info:
            store.add_run(task, setup, 1, "ok", openml_run_id=9)
        assert store.stats().runs == 1
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("add_runs could not write to the meta-store sqlite://: ")
    assert f"on each of {_retry.ATTEMPTS} attempts" in message
    assert "UNIQUE constraint failed: run.openml_run_id" in message
    assert "INSERT" not in message  # no SQL


def test_a_bulk_write_holds_at_most_one_lock_per_bucket(fresh_postgres: str) -> None:
    # One lock per run would overflow PostgreSQL's shared lock table (64 per connection by
    # default) in a bulk log_curves or import: 20,000 fail with "out of shared memory".
    keys = [(1, 1, seed, "local", "scratch", None) for seed in range(10_000)]
    with MetaStore(fresh_postgres) as store, Session(store.engine) as session, session.begin():
        lock_run_keys(session, keys)
        held = session.scalar(
            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
        )
    assert held == _entities._RUN_LOCK_BUCKETS
