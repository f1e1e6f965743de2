"""The meta-dataset snapshot: the shipped one (coverage, size, replay, warm start, split) and
`write_snapshot` on a tiny store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tunegym.cli import app
from tunegym.data import list_datasets
from tunegym.envs import META_FEATURE_NAMES, SearchSpace, make_tuning_env, read_curves
from tunegym.metastore import (
    SNAPSHOT_DIR,
    SPLIT_PARTS,
    MetaStore,
    dataset_family,
    family_split,
    load_snapshot,
    read_split,
    snapshot_meta_features,
    snapshot_split,
    snapshot_stats,
    warm_start_snapshot,
    write_snapshot,
)

REPO_SPLIT = Path(__file__).parents[2] / "experiments" / "splits" / "metadataset_split.json"
MAX_BYTES = 25 * 10**6
SPACE = SearchSpace()
TWINS = {
    "keel:iris": "sklearn:iris",
    "keel:wine": "sklearn:wine",
    "keel:wdbc": "sklearn:breast_cancer",
}


@pytest.fixture(scope="module")
def shipped() -> pd.DataFrame:
    return load_snapshot()


@pytest.fixture(scope="module")
def bundled() -> list[str]:
    return [d.spec for d in list_datasets()]


@pytest.fixture(scope="module")
def recorded(bundled: list[str]) -> list[str]:
    """Every bundled dataset but the KEEL copies of scikit-learn's (one per OpenML id)."""
    return [d for d in bundled if d not in TWINS]


def test_shipped_snapshot_covers_the_grid_on_every_dataset(
    shipped: pd.DataFrame, recorded: list[str]
) -> None:
    assert snapshot_stats().twins == TWINS
    assert sorted(shipped["dataset"].unique()) == sorted(recorded)
    bundled = recorded
    last = shipped.groupby(["dataset", "lr", "batch_size", "seed"]).agg(
        epochs=("epoch", "max"), rows=("epoch", "size"), diverged=("diverged", "any")
    )
    assert len(last) == len(bundled) * SPACE.n_configs * 3
    assert set(last.index.get_level_values("lr")) == set(SPACE.lrs)
    assert set(last.index.get_level_values("batch_size")) == set(SPACE.batch_sizes)
    assert set(last.index.get_level_values("seed")) == {0, 1, 2}
    assert (last["rows"] == last["epochs"]).all()  # epochs 1..n, no gaps or repeats
    assert ((last["epochs"] == SPACE.max_epochs) | last["diverged"]).all()
    stats = snapshot_stats()
    assert (stats.datasets, stats.runs, stats.epochs) == (len(bundled), len(last), len(shipped))
    assert stats.diverged_runs == int(last["diverged"].sum())


def test_shipped_snapshot_is_small_and_packaged() -> None:
    assert snapshot_stats().size_bytes <= MAX_BYTES
    assert sum(f.stat().st_size for f in SNAPSHOT_DIR.iterdir()) <= MAX_BYTES
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert '"metastore/snapshot/*.parquet"' in pyproject
    assert '"metastore/snapshot/*.json"' in pyproject


def test_shipped_meta_features_carry_env_features(recorded: list[str]) -> None:
    features = snapshot_meta_features()
    assert sorted(features.index) == sorted(recorded)
    env = [f"tunegym.{n}" for n in META_FEATURE_NAMES]
    assert features[env].notna().all().all()
    assert features["NumberOfInstances"].notna().all()
    assert features.loc["sklearn:iris", "openml_did"] == 61


def test_replay_env_defaults_to_the_snapshot() -> None:
    env = make_tuning_env("keel:german", "replay", budget_epochs=48)
    assert np.any(env.unwrapped.backend.meta_features != 0)
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    done, steps, rewards = False, 0, 0.0
    while not done:
        action = int(rng.choice(np.flatnonzero(env.action_masks())))
        obs, reward, terminated, truncated, info = env.step(action)
        assert env.observation_space.contains(obs)
        rewards += float(reward)
        done, steps = terminated or truncated, steps + 1
    assert info["epochs_used"] <= 48 and steps > 1
    assert 0.0 <= rewards <= 1.0 + 1e-6
    with pytest.raises(ValueError, match="Did you mean 'keel:german'"):
        make_tuning_env("keel:germann", "replay")
    with pytest.raises(ValueError, match="recorded as 'sklearn:iris'"):
        make_tuning_env("keel:iris", "replay")


def test_snapshot_warm_start_leaves_the_family_out() -> None:
    ws = warm_start_snapshot("keel:iris", SPACE.lrs, SPACE.batch_sizes, k=5)
    assert len(ws.neighbors) == 5
    assert all(dataset_family(n.dataset) != "iris" for n in ws.neighbors)
    assert ws.prior.shape == (len(SPACE.lrs), len(SPACE.batch_sizes))
    assert ws.portfolio and ws.box is not None
    train = snapshot_split().query("part == 'meta-train'")["dataset"].tolist()
    ws = warm_start_snapshot("keel:yeast1", SPACE.lrs, SPACE.batch_sizes, k=3, candidates=train)
    assert {n.dataset for n in ws.neighbors} <= set(train)
    own = warm_start_snapshot(
        "keel:yeast1", SPACE.lrs, SPACE.batch_sizes, k=3, exclude_family=False
    )
    assert any(dataset_family(n.dataset) == "yeast" for n in own.neighbors)


def test_family_split_assigns_every_dataset_and_never_straddles(bundled: list[str]) -> None:
    split = read_split(REPO_SPLIT)
    assert sorted(split["dataset"]) == sorted(bundled)
    assert split.groupby("family")["part"].nunique().max() == 1
    assert set(split["part"]) == set(SPLIT_PARTS)
    assert (split["family"] == [dataset_family(d) for d in split["dataset"]]).all()
    assert dict(zip(split["dataset"], split["part"], strict=True)) == family_split(bundled)
    pd.testing.assert_frame_equal(
        snapshot_split().sort_values("dataset", ignore_index=True),
        split.sort_values("dataset", ignore_index=True),
    )
    families = split.drop_duplicates("family")["part"].value_counts(normalize=True)
    assert families["meta-train"] == pytest.approx(0.7, abs=0.05)


@pytest.mark.parametrize(
    ("spec", "family"),
    [
        ("keel:yeast-2_vs_4", "yeast"),
        ("keel:yeast1", "yeast"),
        ("keel:kr-vs-k-zero_vs_eight", "kr-vs-k"),
        ("keel:chess", "chess"),
        ("keel:winequality-red-4", "winequality"),
        ("sklearn:wine", "wine"),
        ("keel:imbalanced/pima", "pima"),
        ("keel:iris0", "iris"),
        ("sklearn:breast_cancer", "wisconsin-breast"),
        ("keel:imbalanced/wisconsin", "wisconsin-breast"),
        ("keel:breast", "breast"),
        ("keel:page-blocks-1-3_vs_4", "page-blocks"),
        ("data/my_table.csv", "my_table"),
    ],
)
def test_dataset_family(spec: str, family: str) -> None:
    assert dataset_family(spec) == family


def test_family_split_is_seeded_and_checked() -> None:
    specs = [f"keel:yeast{i}" for i in range(3)] + [f"keel:d{i}" for i in range(20)]
    assert family_split(specs, seed=3) == family_split(specs, seed=3)
    assert family_split(specs, seed=3) != family_split(specs, seed=4)
    assert len({family_split(specs)[f"keel:yeast{i}"] for i in range(3)}) == 1
    with pytest.raises(ValueError, match="summing to 1"):
        family_split(specs, fractions=(0.5, 0.2, 0.2))


def test_write_snapshot_round_trip(tmp_path: Path, iris_curves: pd.DataFrame) -> None:
    with MetaStore(tmp_path / "ms.sqlite") as store:
        store.log_curves(iris_curves)
        stats = write_snapshot(store, tmp_path / "snap", max_rows=100)
        stored = store.curves("sklearn:iris")
    assert (stats.datasets, stats.runs, stats.epochs) == (1, 6, len(iris_curves))
    assert stats.diverged_runs == 2 and stats.seeds == (0, 1)
    frame = load_snapshot(path=tmp_path / "snap")
    assert frame["val_accuracy"].dtype == np.float32 and frame["lr"].dtype == np.float64
    columns = ["lr", "batch_size", "seed", "epoch", "val_accuracy", "diverged"]
    expected = stored[columns].astype(frame[columns].dtypes.to_dict())
    pd.testing.assert_frame_equal(frame[columns], expected)
    assert frame.attrs["tunegym"]["datasets"]["sklearn:iris"]["meta_features"]
    assert read_curves(tmp_path / "snap" / "curves.parquet").shape == frame.shape
    manifest = json.loads((tmp_path / "snap" / "manifest.json").read_text())
    assert manifest["max_rows"] == 100 and manifest["max_epochs"] == 3
    with pytest.raises(ValueError, match="No curves for 'sklearn:wine'"):
        load_snapshot(["sklearn:wine"], path=tmp_path / "snap")
    with pytest.raises(FileNotFoundError, match="tunegym collect --snapshot"):
        load_snapshot(path=tmp_path)


def test_stats_command_reports_the_snapshot() -> None:
    result = CliRunner().invoke(app, ["metastore", "stats", "--snapshot"])
    assert result.exit_code == 0, result.output
    stats = snapshot_stats()
    for figure in (stats.datasets, stats.runs, stats.epochs):
        assert f"{figure:,}" in result.output
