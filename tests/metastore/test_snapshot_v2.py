"""The shipped meta-dataset v2 (LCBench's space, live trainer): complete, small, replayable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tunegym.envs import lcbench_search, make_tuning_env
from tunegym.metastore import (
    ENV_FEATURE_NAMES,
    LCBENCH_SNAPSHOT_DIR,
    SNAPSHOT_DIR,
    load_snapshot,
    snapshot_meta_features,
    snapshot_split,
    snapshot_stats,
)
from tunegym.space import LCBENCH_SPACE

MAX_BYTES = 25 * 2**20  # the budget for the shipped snapshot, both meta-datasets
SEARCH = lcbench_search()
CONFIG = sorted(LCBENCH_SPACE.names)


@pytest.fixture(scope="module")
def shipped() -> pd.DataFrame:
    return load_snapshot(path=LCBENCH_SNAPSHOT_DIR)


def test_every_dataset_has_every_candidate_for_both_seeds_and_50_epochs(
    shipped: pd.DataFrame,
) -> None:
    stats = snapshot_stats(LCBENCH_SNAPSHOT_DIR)
    runs = shipped.groupby(["dataset", *CONFIG, "seed"]).agg(
        epochs=("epoch", "max"), rows=("epoch", "size"), diverged=("diverged", "any")
    )
    datasets = shipped["dataset"].unique()
    assert stats.datasets == len(datasets) >= 25
    assert len(runs) == len(datasets) * SEARCH.n_configs * 2 == stats.runs
    assert (runs["rows"] == runs["epochs"]).all()  # epochs 1..n, no gaps or repeats
    assert ((runs["epochs"] == 50) | runs["diverged"]).all()
    assert stats.hyperparameters == tuple(CONFIG) and stats.configs == SEARCH.n_configs
    recorded = shipped[CONFIG].drop_duplicates().to_dict("records")
    assert {SEARCH.key(c) for c in recorded} == {SEARCH.key(c) for c in SEARCH.candidates}
    assert (shipped["seconds"] > 0).all()


def test_it_is_split_by_v1s_families_and_described(shipped: pd.DataFrame) -> None:
    split = snapshot_split(LCBENCH_SNAPSHOT_DIR)
    v1 = snapshot_split().drop_duplicates("family").set_index("family")["part"]
    assert (split["part"] == split["family"].map(v1)).all()
    assert set(split["part"]) == {"meta-train", "meta-val", "meta-test"}
    features = snapshot_meta_features(LCBENCH_SNAPSHOT_DIR)
    env = [f"tunegym.{n}" for n in ENV_FEATURE_NAMES]
    assert features[env].notna().all().all()
    assert features["NumberOfInstances"].notna().all()


def test_both_snapshots_fit_the_budget_and_are_packaged() -> None:
    total = sum(f.stat().st_size for d in (SNAPSHOT_DIR, LCBENCH_SNAPSHOT_DIR) for f in d.iterdir())
    assert total <= MAX_BYTES
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert '"metastore/snapshot_lcbench/*.parquet"' in pyproject
    assert '"metastore/snapshot_lcbench/*.json"' in pyproject


def test_the_named_space_replays_it() -> None:
    dataset = snapshot_split(LCBENCH_SNAPSHOT_DIR)["dataset"].iloc[0]
    env = make_tuning_env(dataset, "replay", space="lcbench", trial_seeds=(0, 1), budget_epochs=120)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    done = False
    while not done:
        action = int(rng.choice(np.flatnonzero(env.action_masks())))
        *_, terminated, truncated, info = env.step(action)
        done = terminated or truncated
    assert info["epochs_used"] <= 120
    with pytest.raises(ValueError, match="give curves= for other candidates"):
        make_tuning_env(dataset, "replay", space=SEARCH.sampled(LCBENCH_SPACE, 3, seed=7))


def test_stats_command_reports_v2() -> None:
    from typer.testing import CliRunner

    from tunegym.cli import app

    out = CliRunner().invoke(
        app, ["metastore", "stats", "--snapshot", "--v2"], env={"COLUMNS": "120"}
    )
    assert out.exit_code == 0, out.output
    stats = snapshot_stats(LCBENCH_SNAPSHOT_DIR)
    assert "100 configurations, E_max 50" in out.output
    assert f"{stats.runs:,}" in out.output and "momentum" in out.output
