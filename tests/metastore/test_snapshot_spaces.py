"""Snapshots and warm starts off the grid: a store of LCBench-space trials, written and read."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunegym.baselines import make_baseline, run_episode
from tunegym.baselines._warm import portfolio_candidates
from tunegym.envs import SearchSpace, collect, curve_search, make_tuning_env
from tunegym.metastore import (
    ENV_FEATURE_NAMES,
    MetaStore,
    load_snapshot,
    snapshot_meta_features,
    snapshot_stats,
    warm_start_snapshot,
    write_snapshot,
)
from tunegym.space import LCBENCH_SPACE

DATASETS = ("sklearn:iris", "sklearn:wine", "sklearn:breast_cancer")
SEARCH = SearchSpace.sampled(LCBENCH_SPACE, 3, seed=0, max_epochs=2, k_choices=(1, 2))


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lcbench_snapshot")
    with MetaStore(folder / "store.sqlite") as store:
        summary = collect(DATASETS, SEARCH, seeds=(0, 1), store=store)
        assert summary.runs_logged == 3 * 3 * 2 and not summary.failures
        write_snapshot(store, folder / "snapshot", max_rows=1500)
    return folder / "snapshot"


def test_the_snapshot_of_a_space_counts_its_configurations(snapshot: Path) -> None:
    stats = snapshot_stats(snapshot)
    assert stats.hyperparameters == tuple(sorted(LCBENCH_SPACE.names))
    assert (stats.configs, stats.datasets, stats.runs, stats.epochs) == (3, 3, 18, 36)
    assert stats.lrs == () and stats.batch_sizes == () and stats.max_epochs == 2
    assert stats.seeds == (0, 1)


def test_its_configurations_are_the_candidates_exactly(snapshot: Path) -> None:
    table = load_snapshot(["sklearn:wine"], path=snapshot)
    search = curve_search(table, LCBENCH_SPACE)
    assert {search.key(c) for c in search.candidates} == {SEARCH.key(c) for c in SEARCH.candidates}
    assert table["num_layers"].dtype.kind == "i" and table["learning_rate"].dtype.kind == "f"
    # The env features travel in the header (the collector stores them off the grid too).
    features = table.attrs["tunegym"]["datasets"]["sklearn:wine"]["meta_features"]
    assert len(features) == len(ENV_FEATURE_NAMES)
    assert "NumberOfInstances" in snapshot_meta_features(snapshot).columns


def test_it_replays_and_warm_starts_a_baseline(snapshot: Path) -> None:
    table = load_snapshot(["sklearn:iris"], path=snapshot)
    search = curve_search(table, LCBENCH_SPACE)
    ws = warm_start_snapshot("sklearn:iris", (), (), k=2, path=snapshot)
    assert [n.dataset for n in ws.neighbors] and "sklearn:iris" not in {
        n.dataset for n in ws.neighbors
    }
    assert ws.prior.shape == (0, 0)
    for entry in ws.portfolio:
        assert entry.config is not None and set(entry.config) == set(LCBENCH_SPACE.names)
        assert entry.lr == entry.config["learning_rate"]
        assert entry.batch_size == entry.config["batch_size"]
    assert ws.box is not None
    assert ws.box.lr_min <= ws.box.lr_max
    assert len(portfolio_candidates(ws, search)) == len(ws.portfolio)
    env = make_tuning_env(
        "sklearn:iris", "replay", curves=table, space=search, trial_seeds=(0, 1),
        budget_epochs=4,
    )  # fmt: skip
    result = run_episode(env, make_baseline("ws-random", warm_start=ws), seed=0)
    first = result.incumbent.config
    assert first is not None and set(first) == set(LCBENCH_SPACE.names)
    assert result.epochs_used[-1] <= 4


def test_the_grid_warm_start_is_unchanged_by_the_generalisation() -> None:
    ws = warm_start_snapshot("keel:german", [1e-3, 1e-2, 1e-1], [16, 64], k=3)
    assert all(entry.config is None for entry in ws.portfolio)
    assert ws.prior.shape == (3, 2)
    assert len({(e.lr, e.batch_size) for e in ws.portfolio}) == len(ws.portfolio)


def test_a_split_can_keep_another_splits_families() -> None:
    from tunegym.metastore import family_split, snapshot_split

    v1 = snapshot_split()
    fixed = dict(zip(v1["family"], v1["part"], strict=True))
    specs = ["keel:letter", "keel:german", "keel:mushroom", "keel:yeast1", "keel:yeast3"]
    parts = family_split(specs, fixed=fixed)
    assert parts == {
        s: fixed[f]
        for s, f in zip(specs, v1.set_index("dataset").loc[specs, "family"], strict=True)
    }
    assert parts["keel:letter"] == "meta-test" and parts["keel:mushroom"] == "meta-val"
    unfixed = family_split(["keel:german", "x:new1"], fixed={"german": "meta-val"})
    assert unfixed["keel:german"] == "meta-val" and unfixed["x:new1"] in (
        "meta-train", "meta-val", "meta-test",
    )  # fmt: skip
    with pytest.raises(ValueError, match="fixed parts must be"):
        family_split(specs, fixed={"german": "test"})


def test_a_live_env_of_the_named_space_searches_v2s_candidates() -> None:
    from tunegym.envs import lcbench_search

    env = make_tuning_env("sklearn:iris", "live", space="lcbench", budget_epochs=2)
    assert env.task.space.n_configs == 100 and env.task.space.max_epochs == 50
    assert env.task.space.candidates == lcbench_search().candidates
    with pytest.raises(ValueError, match="Did you mean 'lcbench'"):
        make_tuning_env("sklearn:iris", "live", space="lcbnch")
