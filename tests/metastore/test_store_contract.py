"""The meta-store contract, run against every store URL (SQLite file, in-memory, PostgreSQL)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from tests.metastore._content import content
from tests.metastore.conftest import TINY_SEEDS, TINY_SPACE
from tunegym.data import TabularDataset
from tunegym.envs import ReplayBackend, make_tuning_env
from tunegym.errors import DatasetNotFoundError
from tunegym.metastore import (
    EPOCH_MEASURES,
    Base,
    DataSplit,
    EvaluationRow,
    Init,
    MetaFeatureSource,
    MetaStore,
    Procedure,
    Run,
    RunRecord,
    RunStatus,
    SearchGrid,
    Source,
    SplitSpec,
)
from tunegym.training import MLPSpec, TrainConfig, Trial

KEYS = ["lr", "batch_size", "seed", "epoch"]


def sorted_curves(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(KEYS).reset_index(drop=True)


def a_task_and_setup(store: MetaStore) -> tuple[int, int]:
    dataset = store.get_or_create_dataset("toy")
    flow = store.get_or_create_flow("toy.flow", family="toy")
    return store.get_or_create_task(dataset).id, store.get_or_create_setup(flow, {"lr": 0.1}).id


class TestMetaStoreContract:
    """Every store URL behaves the same (the `store` fixture is parametrised over them)."""

    def test_schema_is_migrated_to_match_the_models(self, store: MetaStore) -> None:
        with store.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert context.get_current_revision() == store.revision == "0004"
            assert compare_metadata(context, Base.metadata) == []

    def test_foreign_keys_are_enforced(self, store: MetaStore) -> None:
        row = {"task_id": 999, "setup_id": 999, "seed": 0, "status": "ok", "init": "scratch"}
        with pytest.raises(IntegrityError), store.engine.begin() as connection:
            connection.execute(insert(Run), [{**row, "source": "local"}])
        with pytest.raises(ValueError, match="No task with id 999"):
            store.add_run(999, 999, 0, "ok")

    def test_datasets_are_found_by_spec_did_or_name(self, store: MetaStore) -> None:
        german = store.get_or_create_dataset("german", spec="keel:german")
        assert store.get_or_create_dataset("german", spec="keel:german") == german
        # An OpenML did given later is filled in; the did then finds the same dataset.
        filled = store.get_or_create_dataset("german", spec="keel:german", openml_did=31)
        assert (filled.id, filled.openml_did) == (german.id, 31)
        assert store.get_or_create_dataset("credit-g", openml_did=31, n_rows=1000).id == german.id
        local = store.get_or_create_dataset("german")  # no spec, no did: another dataset
        assert local.id != german.id
        assert store.get_or_create_dataset("german").id == local.id
        other = store.get_or_create_dataset("x", spec="keel:x")
        with pytest.raises(ValueError, match="cannot be one dataset"):
            store.get_or_create_dataset("x", spec="keel:x", openml_did=31)
        assert other.label == "keel:x"
        table = store.datasets()
        assert table.loc[german.id, "n_rows"] == 1000
        assert list(table.index) == [german.id, local.id, other.id]
        with pytest.raises(ValueError, match="dataset source"):
            store.get_or_create_dataset("y", source="kaggle")

    def test_tasks_flows_and_setups_are_deduplicated(self, store: MetaStore) -> None:
        iris = store.get_or_create_dataset("iris", spec="sklearn:iris")
        task = store.get_or_create_task(iris)
        assert store.get_or_create_task("sklearn:iris", SplitSpec()) == task
        fold = SplitSpec(Procedure.CV, seed=0, test_size=None, n_folds=5, fold=1)
        assert store.get_or_create_task(iris, fold).id != task.id
        assert store.get_or_create_task(iris, SplitSpec(seed=1)).id != task.id
        grid = SearchGrid((1e-3, 1e-2), (16,), 4)
        flow = store.get_or_create_flow("f", model_spec={"width": 8}, search_space=grid)
        wider = store.get_or_create_flow("f", search_space=SearchGrid((1e-1,), (32,), 8))
        assert wider.id == flow.id
        assert wider.search_space == SearchGrid((1e-3, 1e-2, 1e-1), (16, 32), 8)
        with pytest.raises(ValueError, match="another version"):
            store.get_or_create_flow("f", model_spec={"width": 16})
        assert store.get_or_create_flow("f", "2", model_spec={"width": 16}).id != flow.id
        setup = store.get_or_create_setup(flow, {"lr": 0.1 + 0.2, "batch_size": 16})
        same = store.get_or_create_setup(flow.id, {"batch_size": np.int64(16), "lr": 0.3})
        assert same == setup
        assert setup.params == {"batch_size": 16, "lr": 0.3}
        assert store.get_or_create_setup(flow, {"lr": 0.3, "batch_size": 32}).id != setup.id
        assert store.stats().setups == 2
        with pytest.raises(ValueError, match="must be finite"):
            store.get_or_create_setup(flow, {"lr": math.inf})

    def test_add_run_stores_epochs_and_final_values(self, store: MetaStore) -> None:
        task, setup = a_task_and_setup(store)
        rows = [
            EvaluationRow("predictive_accuracy", DataSplit.VAL, 0.5, epoch=1, elapsed_seconds=0.1),
            EvaluationRow("predictive_accuracy", DataSplit.TEST, 0.4),
        ]
        first = store.add_run(task, setup, 0, "ok", rows, total_seconds=0.1)
        assert store.add_run(task, setup, 0, RunStatus.OK, rows) == first + 1  # runs are events
        stats = store.stats()
        assert (stats.runs, stats.evaluations, stats.epochs) == (2, 4, 2)
        with pytest.raises(ValueError, match=r"Invalid run status 'dvierged'.*'diverged'"):
            store.add_run(task, setup, 0, "dvierged")
        with pytest.raises(ValueError, match=r"needs init=Init\.CHECKPOINT"):
            store.add_run(task, setup, 0, "ok", checkpoint="zoo:iris")
        store.add_run(task, setup, 0, "ok", init=Init.CHECKPOINT, checkpoint="zoo:iris")
        with pytest.raises(ValueError, match="split"):
            EvaluationRow("predictive_accuracy", "validation", 0.5)  # type: ignore[arg-type]
        assert store.stats().runs == 3  # the rejected runs wrote nothing

    def test_add_runs_writes_many_runs_in_one_transaction(
        self, store: MetaStore, iris: TabularDataset
    ) -> None:
        task, setup = a_task_and_setup(store)
        history = Trial(iris, TrainConfig(1e-2, 16, 3), eval_test=True).train(3)
        records = [RunRecord(task, setup, seed, RunStatus.OK, history) for seed in range(4)]
        ids = store.add_runs(records)
        assert len(set(ids)) == 4
        stats = store.stats()
        assert (stats.runs, stats.epochs, stats.evaluations) == (
            4,
            12,
            4 * (3 + 1) * len(EPOCH_MEASURES),
        )
        with pytest.raises(ValueError, match="No setup"):
            store.add_runs([*records, RunRecord(task, 12345, 0, RunStatus.OK, history)])
        assert store.stats().runs == 4

    def test_log_curves_is_idempotent(self, store: MetaStore, iris_curves: pd.DataFrame) -> None:
        ids = store.log_curves(iris_curves)
        assert len(ids) == len(TINY_SPACE.lrs) * len(TINY_SEEDS)
        assert store.log_curves(iris_curves) == ids
        stats = store.stats()
        assert stats.runs == len(ids)
        assert stats.runs_by_source == {"local": len(ids)}
        assert stats.runs_by_status == {"ok": 4, "diverged": 2}
        assert stats.epochs == len(iris_curves)
        assert stats.evaluations == len(EPOCH_MEASURES) * (len(iris_curves) + len(ids))
        assert (stats.datasets, stats.tasks, stats.flows, stats.setups) == (1, 1, 1, 3)
        assert store.datasets().loc[1, "openml_did"] == 61  # sklearn:iris is OpenML 61

    def test_curves_round_trip_exactly(self, store: MetaStore, iris_curves: pd.DataFrame) -> None:
        store.log_curves(iris_curves)
        back = store.curves("sklearn:iris")
        pd.testing.assert_frame_equal(back, sorted_curves(iris_curves), check_exact=True)
        assert np.isinf(back.loc[back["diverged"], "val_loss"]).all()
        header = back.attrs["tunegym"]
        assert header["model"] == dataclasses.asdict(MLPSpec())
        assert header["datasets"] == iris_curves.attrs["tunegym"]["datasets"]

    def test_nan_and_missing_values_survive(
        self, store: MetaStore, iris_curves: pd.DataFrame
    ) -> None:
        frame = iris_curves.copy()
        frame.attrs = iris_curves.attrs
        frame.loc[::3, "test_loss"] = np.nan
        frame[["test_accuracy", "test_balanced_accuracy"]] = np.nan  # not evaluated on test
        store.log_curves(frame)
        pd.testing.assert_frame_equal(store.curves(1), sorted_curves(frame), check_exact=True)

    def test_replay_env_runs_on_stored_curves(
        self, store: MetaStore, iris: TabularDataset, iris_curves: pd.DataFrame
    ) -> None:
        store.log_curves(iris_curves)
        stored = store.curves("sklearn:iris")
        backend = ReplayBackend(stored, space=TINY_SPACE, seeds=TINY_SEEDS)
        np.testing.assert_array_equal(
            backend.meta_features, ReplayBackend(iris_curves).meta_features
        )
        envs = [
            make_tuning_env(
                iris, "replay", curves=curves, space=TINY_SPACE, budget_epochs=6, n_slots=2,
                trial_seeds=TINY_SEEDS,
            )
            for curves in (iris_curves, stored)
        ]  # fmt: skip
        observations = [env.reset(seed=0)[0] for env in envs]
        np.testing.assert_array_equal(observations[0], observations[1])
        rng = np.random.default_rng(0)
        for _ in range(20):
            action = int(rng.choice(np.flatnonzero(envs[0].action_masks())))
            steps = [env.step(action) for env in envs]
            np.testing.assert_array_equal(steps[0][0], steps[1][0])
            assert steps[0][1:3] == steps[1][1:3]
            if steps[0][2] or steps[0][3]:
                break

    def test_log_trial(self, store: MetaStore, iris: TabularDataset) -> None:
        config, spec = TrainConfig(1e-2, 16, 4, seed=3), MLPSpec(depth=1, width=8)
        trial = Trial(iris, config, spec)
        short = list(trial.train(2))
        run = store.log_trial(iris, config, spec, short)
        assert store.log_trial(iris, config, spec, short) == run
        store.log_trial(iris, config, spec, [*short, *trial.train(2)])
        stats = store.stats()  # the longer history replaced the stored one
        assert (stats.runs, stats.epochs, stats.runs_by_status) == (1, 4, {"ok": 1})
        diverged = Trial(iris, TrainConfig(1e20, 16, 4), spec).train(4)
        store.log_trial(iris, TrainConfig(1e20, 16, 4), spec, diverged, hardware="test rig")
        assert store.stats().runs_by_status == {"ok": 1, "diverged": 1}
        table = store.datasets().loc[1]
        assert (table["spec"], table["openml_did"], table["n_rows"]) == ("sklearn:iris", 61, 150)
        curves = store.curves("sklearn:iris", task=1)
        assert curves["seed"].tolist() == [3] * 4 + [0]
        with pytest.raises(ValueError, match=r"val_size=0\.3 does not give"):
            store.log_trial(iris, config, spec, short, val_size=0.3)

    def test_curves_errors(self, store: MetaStore, iris_curves: pd.DataFrame) -> None:
        store.log_curves(iris_curves)
        with pytest.raises(DatasetNotFoundError, match="Did you mean 'sklearn:iris'"):
            store.curves("sklearn:irs")
        with pytest.raises(DatasetNotFoundError, match="id 42"):
            store.curves(42)
        store.get_or_create_dataset("empty")
        with pytest.raises(ValueError, match="No runs of dataset 'empty'"):
            store.curves("empty")
        task, _ = a_task_and_setup(store)
        setup = store.get_or_create_setup(
            store.get_or_create_flow("toy.flow"), {"lr": 1, "batch_size": 2}
        )
        final_only = [EvaluationRow("predictive_accuracy", DataSplit.TEST, 0.5)]
        store.add_run(task, setup, 0, "ok", final_only)
        with pytest.raises(ValueError, match="no per-epoch evaluations"):
            store.curves("toy")
        other = dataclasses.asdict(MLPSpec(width=8))
        store.log_curves(iris_curves, model=other, split=SplitSpec(seed=1))
        with pytest.raises(ValueError, match="several tasks/flows"):
            store.curves("sklearn:iris")
        chosen = store.curves("sklearn:iris", task=store.get_or_create_task(1, SplitSpec(seed=1)))
        assert chosen.attrs["tunegym"]["model"] == other
        with pytest.raises(ValueError, match="lacks the columns"):
            store.log_curves(iris_curves.drop(columns="seconds"))
        gap = iris_curves[iris_curves["epoch"] != 2]
        with pytest.raises(ValueError, match="without gaps"):
            store.log_curves(gap, model=other)

    def test_meta_features(self, store: MetaStore) -> None:
        a = store.get_or_create_dataset("a")
        b = store.get_or_create_dataset("b", openml_did=7)
        store.set_meta_features(a, {"NumberOfInstances": 100.0, "NumberOfClasses": 2})
        store.set_meta_features(a, {"NumberOfInstances": 150.0})  # overwrites
        store.set_meta_features("b", {"NumberOfInstances": 10.0, "MeanKurtosis": None})
        store.set_meta_features(b, {"NumberOfInstances": 12.0}, source="openml")
        wide = store.meta_features()
        assert list(wide.columns) == ["MeanKurtosis", "NumberOfClasses", "NumberOfInstances"]
        assert wide.loc[a.id, "NumberOfInstances"] == 150.0
        assert wide.loc[b.id, "NumberOfInstances"] == 12.0  # OpenML's value is preferred
        assert wide["MeanKurtosis"].isna()[b.id]
        computed = store.meta_features(MetaFeatureSource.COMPUTED)
        assert computed.loc[b.id, "NumberOfInstances"] == 10.0
        assert list(store.meta_features("openml").index) == [b.id]
        with pytest.raises(ValueError, match="meta-feature source"):
            store.meta_features("published")

    def test_export_import_round_trip(
        self, store: MetaStore, iris: TabularDataset, iris_curves: pd.DataFrame, tmp_path: Path
    ) -> None:
        store.log_curves(iris_curves)
        store.log_trial(
            iris,
            TrainConfig(1e-3, 32, 2),
            MLPSpec(),
            Trial(iris, TrainConfig(1e-3, 32, 2)).train(2),
        )
        toy_task, toy_setup = a_task_and_setup(store)
        store.add_run(toy_task, toy_setup, 0, "failed", source=Source.OPENML, openml_run_id=9)
        store.set_meta_features("toy", {"NumberOfInstances": 5.0}, source="openml")
        written = store.export_parquet(tmp_path / "all")
        assert written.runs == store.stats().runs == 8
        with MetaStore(":memory:") as other:
            added = other.import_parquet(tmp_path / "all")
            assert added == written
            assert content(other) == content(store)
            pd.testing.assert_frame_equal(
                other.curves("sklearn:iris", task=1), store.curves("sklearn:iris", task=1)
            )
            assert other.import_parquet(tmp_path / "all").runs == 0  # merged: nothing new
            assert content(other) == content(store)

    def test_export_of_a_subset(
        self, store: MetaStore, iris_curves: pd.DataFrame, tmp_path: Path
    ) -> None:
        store.log_curves(iris_curves)
        toy_task, toy_setup = a_task_and_setup(store)
        store.add_run(toy_task, toy_setup, 0, "ok")
        written = store.export_parquet(tmp_path / "toy", datasets=["toy"])
        assert (written.datasets, written.runs, written.flows, written.setups) == (1, 1, 1, 1)
        with MetaStore(":memory:") as other:
            other.log_curves(iris_curves)  # the destination has its own runs: merged, not lost
            other.import_parquet(tmp_path / "toy")
            assert other.stats().runs == 7
            assert sorted(other.datasets()["name"]) == ["iris", "toy"]
            manifest = tmp_path / "toy" / "manifest.json"
            manifest.write_text(manifest.read_text().replace('"0004"', '"0099"'))
            with pytest.raises(ValueError, match="schema revision '0099'"):
                other.import_parquet(tmp_path / "toy")
            with pytest.raises(FileNotFoundError, match=r"No manifest\.json"):
                other.import_parquet(tmp_path / "nothing")
