"""Curve tables of any benchmark: CSV/Parquet in the documented format, replayed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.envs.test_candidates import random_episode
from tunegym.envs import ReplayBackend, TaskSpec, TuningEnv, curve_search, read_curve_table


def benchmark_table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for width in (16, 64, 256):
        for optimizer in ("adam", "sgd"):
            for lr in (1e-3, 1e-2, 1e-1):
                for seed in (0, 1):
                    level = rng.uniform(0.5, 0.9)
                    for epoch in range(1, 7):
                        val = level * (1 - np.exp(-epoch / 2)) + rng.normal(0, 0.01)
                        rows.append(
                            {"width": width, "optimizer": optimizer, "lr": lr, "seed": seed,
                             "epoch": epoch, "val_accuracy": val, "test_accuracy": val - 0.01,
                             "val_loss": 1.5 - val, "seconds": 0.1 * width / 16}
                        )  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_benchmarks_table_replays_in_the_env(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"bench{suffix}"
    table = benchmark_table()
    table.to_csv(path, index=False) if suffix == ".csv" else table.to_parquet(path)
    frame = read_curve_table(path)
    search = curve_search(frame)
    assert search.names == ("width", "optimizer", "lr") and search.n_configs == 18
    assert search.max_epochs == 6 and search.k_choices == (1, 2, 4)
    assert [p.type for p in search.space] == ["int", "categorical", "float"]  # type: ignore[union-attr]
    for metric in ("val_accuracy", "val_loss"):
        backend = ReplayBackend(frame, "bench", metric=metric, space=search, seeds=(0, 1))
        env = TuningEnv(
            TaskSpec("bench", space=search, budget_epochs=30, trial_seeds=(0, 1)), backend
        )
        steps = random_episode(env, seed=1)
        assert steps[-1]["epochs_used"] <= 30
        assert 0 <= env.regret <= 1


def test_table_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="No curve table"):
        read_curve_table(tmp_path / "none.csv")
    (tmp_path / "t.json").write_text("{}")
    with pytest.raises(ValueError, match=r"t\.json: a curve table is a \.csv"):
        read_curve_table(tmp_path / "t.json")
    (tmp_path / "t.csv").write_text("lr,val_accuracy\n0.1,0.5\n")
    with pytest.raises(ValueError, match=r"t\.csv has no 'epoch' column"):
        read_curve_table(tmp_path / "t.csv")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(ValueError, match=r"bad\.parquet is not a readable curve table"):
        read_curve_table(tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match="no hyperparameter column"):
        curve_search(pd.DataFrame({"epoch": [1], "val_accuracy": [0.5]}))


@pytest.mark.parametrize(("metric", "direction"), [("val_auc", "max"), ("val_error", "min")])
def test_a_tables_own_metric_with_its_direction(metric: str, direction: str) -> None:
    table = benchmark_table()
    table["val_auc"] = table["val_accuracy"] + 0.05
    table["test_auc"] = table["test_accuracy"] + 0.05
    table["val_error"] = 1 - table["val_accuracy"]
    search = curve_search(table)  # val_* and test_* columns are metrics, not hyperparameters
    assert search.names == ("width", "optimizer", "lr")
    backend = ReplayBackend(table, "bench", metric=metric, direction=direction, space=search,
                            seeds=(0, 1))  # fmt: skip
    assert backend.score_bounds == (1.0, 0.0)  # scaled over the table: best 1, worst 0
    best = table.loc[table[metric].idxmax() if direction == "max" else table[metric].idxmin()]
    config = {k: best[k].item() if hasattr(best[k], "item") else best[k] for k in search.names}
    scores = backend.advance(backend.start(config, int(best["seed"])), 6).scores
    assert scores.max() == pytest.approx(1.0)
    task = TaskSpec("bench", space=search, budget_epochs=30, trial_seeds=(0, 1), metric=metric,
                    metric_direction=direction)  # fmt: skip
    env = TuningEnv(task, backend)
    random_episode(env, seed=2)
    assert 0 <= env.regret <= 1
    with pytest.raises(ValueError, match="direction='max' or 'min'"):
        ReplayBackend(table, "bench", metric=metric, space=search, seeds=(0, 1))
    with pytest.raises(ValueError, match="must be 'max' or 'min'"):
        TaskSpec("bench", space=search, metric=metric, metric_direction="up")
    with pytest.raises(ValueError, match="direction is known"):
        TaskSpec("bench", space=search, metric="val_accuracy", metric_direction="max")
