"""Recorded curves: the Parquet format, exact lookup, coverage checks, checkpointed live trials."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.envs.conftest import TINY_SEEDS, TINY_SPACE
from tunegym.data import TabularDataset
from tunegym.envs import (
    CURVE_COLUMNS,
    META_FEATURE_NAMES,
    LiveBackend,
    ReplayBackend,
    SearchSpace,
    read_curves,
    task_meta_features,
    write_curves,
)


def test_recorded_curves_have_every_config_and_epoch(iris_curves: pd.DataFrame) -> None:
    assert list(iris_curves.columns) == list(CURVE_COLUMNS)
    runs = iris_curves.groupby(["lr", "batch_size", "seed"])
    assert runs.ngroups == TINY_SPACE.n_configs * len(TINY_SEEDS)
    lengths = runs["epoch"].max()
    diverged = runs["diverged"].any()
    assert (lengths[~diverged] == TINY_SPACE.max_epochs).all()
    assert (lengths[diverged] == 1).all()
    assert diverged.sum() == 2 * len(TINY_SEEDS)
    assert (iris_curves.loc[iris_curves["diverged"], "val_accuracy"] == 0).all()


def test_parquet_round_trip_keeps_the_header(
    tmp_path: Path, iris_curves: pd.DataFrame, iris: TabularDataset
) -> None:
    path = write_curves(iris_curves, tmp_path / "c.parquet")
    back = read_curves(path)
    pd.testing.assert_frame_equal(back, iris_curves)
    backend = ReplayBackend(path, metric="val_accuracy", space=TINY_SPACE, seeds=TINY_SEEDS)
    np.testing.assert_allclose(backend.meta_features, task_meta_features(iris))
    assert backend.meta_features.shape == (len(META_FEATURE_NAMES),)


def test_read_curves_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="record one"):
        read_curves(tmp_path / "none.parquet")
    with pytest.raises(ValueError, match="lacks the columns"):
        write_curves(pd.DataFrame({"lr": [1.0]}), tmp_path / "bad.parquet")


def test_replay_serves_exact_records(iris_curves: pd.DataFrame) -> None:
    backend = ReplayBackend(iris_curves)
    handle = backend.start({"lr": 1e-2, "batch_size": 16}, 1)
    first, rest = backend.advance(handle, 1), backend.advance(handle, 10)
    expected = iris_curves.query("lr == 0.01 and batch_size == 16 and seed == 1")[
        "val_accuracy"
    ].to_numpy()
    np.testing.assert_array_equal(np.concatenate([first.scores, rest.scores]), expected)
    assert len(rest.scores) == TINY_SPACE.max_epochs - 1  # capped at E_max
    assert backend.score_bounds == (
        iris_curves["val_accuracy"].max(),
        iris_curves["val_accuracy"].min(),
    )


def test_replay_never_interpolates(iris_curves: pd.DataFrame) -> None:
    backend = ReplayBackend(iris_curves)
    with pytest.raises(KeyError, match=r"No recorded curve for {.lr.: 0\.005"):
        backend.start({"lr": 5e-3, "batch_size": 16}, 0)
    wider = SearchSpace(
        lrs=(*TINY_SPACE.lrs[:-1], 3.0, 1e20), batch_sizes=TINY_SPACE.batch_sizes, max_epochs=4
    )
    with pytest.raises(ValueError, match="do not cover the search space"):
        ReplayBackend(iris_curves, space=wider, seeds=TINY_SEEDS)
    longer = SearchSpace(lrs=TINY_SPACE.lrs, batch_sizes=TINY_SPACE.batch_sizes, max_epochs=8)
    with pytest.raises(ValueError, match="stop before E_max=8"):
        ReplayBackend(iris_curves, space=longer, seeds=TINY_SEEDS)
    with pytest.raises(ValueError, match="No recorded curves for dataset 'sklearn:wine'"):
        ReplayBackend(iris_curves, "sklearn:wine")


def test_live_backend_resumes_from_checkpoints(tmp_path: Path, iris: TabularDataset) -> None:
    in_memory = LiveBackend(iris, TINY_SPACE)
    on_disk = LiveBackend(iris, TINY_SPACE, checkpoint_dir=tmp_path)
    a, b = (
        in_memory.start({"lr": 1e-2, "batch_size": 16}, 0),
        on_disk.start({"lr": 1e-2, "batch_size": 16}, 0),
    )
    for k in (1, 2, 1):
        seg_a, seg_b = in_memory.advance(a, k), on_disk.advance(b, k)
        np.testing.assert_array_equal(seg_a.scores, seg_b.scores)
    assert (tmp_path / f"trial-{b}.pt").exists()
    on_disk.release(b)
    assert not (tmp_path / f"trial-{b}.pt").exists()


def test_live_env_logs_every_trial_to_a_store(iris: TabularDataset) -> None:
    from tunegym.envs import make_tuning_env
    from tunegym.metastore import MetaStore

    with MetaStore(":memory:") as store:
        env = make_tuning_env(
            iris, "live", space=TINY_SPACE, budget_epochs=6, n_slots=2, store=store
        )
        env.reset(seed=0)
        env.step(env.codec.new(1, 0, 2))
        env.step(env.codec.new(4, 0, 1))  # diverges
        env.step(env.codec.new(2, 1, 1))  # slots full: the diverged trial is released and logged
        assert store.stats().runs_by_status == {"diverged": 1}
        env.close()  # the two open trials are logged too
        stats = store.stats()
        assert stats.runs == 3
        assert stats.epochs == 4
        assert stats.runs_by_status == {"ok": 2, "diverged": 1}
