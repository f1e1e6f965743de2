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
