"""The protocol v2 harness: pools, the ledger's per-epoch reading, seeds, portfolio, every peer."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tunegym.bench import (
    PEERS,
    BenchPlan,
    BudgetSpent,
    CurvePool,
    Episode,
    Ledger,
    episode_seed,
    get_peer,
    portfolio,
    run_episode,
    run_suite,
    table_pools,
    unavailable_peers,
    write_report,
)
from tunegym.space import Float, Int, Space

SPACE = Space([Float("lr", 1e-3, 1.0, log=True), Int("width", 8, 64)])
E = 9


def toy_table(
    n_configs: int = 30, seeds: int = 2, datasets: int = 1, seed: int = 0
) -> pd.DataFrame:
    """Curves rising to a level set by the distance of lr from 0.05, plus seed noise."""
    rng = np.random.default_rng(seed)
    configs = SPACE.sample(n_configs, seed=seed)
    rows = []
    for d in range(datasets):
        for c in configs:
            level = 0.9 - 0.15 * abs(np.log10(c["lr"]) - np.log10(0.05)) - 0.01 * d
            speed = 0.2 + c["width"] / 64
            for s in range(seeds):
                noise = rng.normal(0, 0.01)
                for e in range(1, E + 1):
                    val = level * (1 - np.exp(-speed * e)) + noise
                    rows.append({"dataset": f"toy{d}", **c, "seed": s, "epoch": e,
                                 "val_accuracy": val, "test_accuracy": val - 0.01,
                                 "seconds": 0.5})  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def pool() -> CurvePool:
    return table_pools(toy_table(), space=SPACE)[0]


def test_table_pool_shapes_truth_and_bounds(pool: CurvePool) -> None:
    assert (pool.n, pool.n_seeds, pool.max_epochs) == (30, 2, E)
    np.testing.assert_allclose(pool.truth, pool.val.mean(axis=1))
    best, worst = pool.bounds
    assert best == pool.truth.max() and worst == pool.truth.min()
    assert pool.regret(best) == 0.0 and pool.regret(worst) == pytest.approx(1.0)
    assert pool.nearest(dict(pool.configs[7])) == 7


def test_table_pool_carries_a_short_run_forward_and_rejects_missing_seeds() -> None:
    table = toy_table(n_configs=3)
    first = table[["lr", "width"]].drop_duplicates().iloc[0]
    short = (table["lr"] == first["lr"]) & (table["epoch"] > 5)
    pool = table_pools(table[~short], space=SPACE)[0]
    assert pool.max_epochs == E
    np.testing.assert_allclose(pool.val[0, :, 5:], pool.val[0, :, 4:5].repeat(E - 5, axis=1))
    no_seed = table[~((table["lr"] == first["lr"]) & (table["seed"] == 1))]
    with pytest.raises(ValueError, match="same seeds"):
        table_pools(no_seed, space=SPACE)
    with pytest.raises(ValueError, match="no 'val_auc' column"):
        table_pools(table, metric="val_auc")


def test_ledger_charges_new_epochs_only_and_reads_per_epoch(pool: CurvePool) -> None:
    ledger = Ledger(pool, budget=20, seed=0)
    ledger.train(3, 4)
    assert ledger.spent == 4
    ledger.train(3, 2)  # known already: free
    assert ledger.spent == 4
    ledger.train(3, 6)  # continuing: two new epochs
    assert ledger.spent == 6 and ledger.trained[3] == 6
    trace = ledger.trace(wall_seconds=0.0)
    s = ledger._seed_of[3]
    # Per-epoch reading: after epoch k of config 3, the incumbent is its best epoch so far.
    for k in range(6):
        best_epoch = int(np.argmax(pool.val[3, s, : k + 1]))
        assert trace.regret[k] == pytest.approx(pool.regret(pool.truth[3, best_epoch]))
        assert trace.seconds[k] == pytest.approx(0.5 * (k + 1))
    assert (trace.regret[6:] == trace.regret[5]).all()  # unspent epochs keep the incumbent


def test_ledger_stops_inside_a_request_and_keeps_what_fit(pool: CurvePool) -> None:
    ledger = Ledger(pool, budget=5, seed=0)
    ledger.train(0, 3)
    with pytest.raises(BudgetSpent):
        ledger.train(1, E)
    assert ledger.spent == 5 and ledger.trained[1] == 2
    timed = Ledger(pool, budget=100, seed=0, budget_seconds=2.0)
    with pytest.raises(BudgetSpent):
        timed.train(0, E)
    assert timed.spent == 4  # 0.5 s per epoch


def test_incumbent_is_worth_its_seed_mean_not_its_lucky_seed() -> None:
    # Config 1 shows 0.95 on its seed but is worth 0.5 on average; config 0 is a steady 0.8.
    val = np.array([[[0.8], [0.8]], [[0.95], [0.05]]])
    pool = CurvePool("t", "t", "meta-test", Space([Float("x", 0.0, 1.0)]),
                     ({"x": 0.1}, {"x": 0.9}), val, val, np.ones_like(val))  # fmt: skip
    for seed in range(20):
        ledger = Ledger(pool, budget=2, seed=seed)
        ledger.train(0, 1)
        ledger.train(1, 1)
        if ledger._seed_of[1] == 0:  # the lucky draw: chosen by validation, scored by truth
            assert ledger.incumbent == 1
            assert ledger.trace(0.0).regret[-1] == pytest.approx(pool.regret(0.5))
            return
    pytest.fail("no episode drew the lucky seed")


def test_the_oracle_is_the_full_trial_with_the_lowest_expected_regret() -> None:
    # Configs 0 and 1 end at the same seed-mean score 1.0. Config 0 shows 1.0 at epoch 1 on
    # seed 0, where its seed-mean is 0.8, and keeps that incumbent; config 1 peaks at epoch 2
    # on both seeds. Config 2 ends lower (0.9) and is never the oracle.
    val = np.array([
        [[1.0, 1.0, 1.0], [0.6, 0.9, 1.0]],
        [[0.5, 1.0, 1.0], [0.5, 1.0, 1.0]],
        [[0.9, 0.9, 0.9], [0.9, 0.9, 0.9]],
    ])  # fmt: skip
    space = Space([Float("x", 0.0, 1.0)])
    pool = CurvePool("t", "t", "meta-test", space, ({"x": 0.1}, {"x": 0.5}, {"x": 0.9}),
                     val, val, np.ones_like(val))  # fmt: skip
    np.testing.assert_allclose(pool.trial_regret(), [pool.regret(0.8) / 2, 0.0, pool.regret(0.9)])
    assert pool.oracle() == 1  # the best final score alone would take config 0
    for seed in range(8):  # what the ledger scores for one full trial, seed by seed
        ledger = Ledger(pool, budget=3, seed=seed)
        ledger.train(0, 3)
        want = pool.regret(0.8) if ledger._seed_of[0] == 0 else 0.0
        assert ledger.trace(0.0).regret[-1] == pytest.approx(want)
    tied = CurvePool("t", "t", "meta-test", space, ({"x": 0.1}, {"x": 0.5}, {"x": 0.9}),
                     val[[2, 1, 1]], val[[2, 1, 1]], np.ones_like(val))  # fmt: skip
    assert tied.oracle() == 1  # equal trials: the first


def test_episode_seeds_differ_across_tasks_and_seeds() -> None:
    seeds = {episode_seed(0, task, s) for task in ("a", "b", "c") for s in range(10)}
    assert len(seeds) == 30
    assert episode_seed(0, "a", 3) == episode_seed(0, "a", 3)


def test_portfolio_is_greedy_and_needs_one_configuration_set() -> None:
    pools = table_pools(toy_table(datasets=3), space=SPACE)
    picks = portfolio(pools, k=4)
    assert len(set(picks)) == 4
    means = np.mean([(p.truth[:, -1] - p.truth[:, -1].min())
                     / np.ptp(p.truth[:, -1]) for p in pools], axis=0)  # fmt: skip
    assert picks[0] == int(np.argmax(means))  # the best meta-train default
    other = table_pools(toy_table(seed=1), space=SPACE)[0]
    with pytest.raises(ValueError, match="different configurations"):
        portfolio([pools[0], other])


RUNNABLE = [n for n in PEERS if n not in unavailable_peers()]


@pytest.mark.parametrize("name", RUNNABLE)
def test_every_peer_spends_the_budget_and_is_deterministic(pool: CurvePool, name: str) -> None:
    info = get_peer(name)
    peer = info.load()
    folio = (4, 11) if info.warm else ()
    first = run_episode(peer, pool, 60, seed=123, portfolio=folio)
    again = run_episode(peer, pool, 60, seed=123, portfolio=folio)
    np.testing.assert_array_equal(first.regret, again.regret)
    assert ((first.regret >= 0) & (first.regret <= 1)).all()
    assert (np.diff(first.val[~np.isnan(first.val)]) >= 0).all()  # the incumbent never worsens
    if name != "oracle":
        assert first.configs > 1
    if info.warm and info.target.split(":")[0] != "tunegym.bench._agent":
        # the portfolio's first configuration is the first one trained (the agent chooses its
        # own order, reading the portfolio as one of each candidate's features)
        ledger = Ledger(pool, 60, seed=1)
        with contextlib.suppress(BudgetSpent):
            peer(Episode(ledger, 1, folio))
        assert ledger.order[0] == 4


def test_the_agent_sees_the_priors_best_and_a_prior_that_follows_the_episode() -> None:
    from tunegym.bench._agent import _episode_env
    from tunegym.envs import DEFAULT_K, RankWeightedPrior, config_prior

    pools = table_pools(toy_table(n_configs=30, datasets=3), space=SPACE)
    target, train = pools[0], pools[1:]
    prior = config_prior(train, target.configs, SPACE)
    warm = Episode(Ledger(target, 60, seed=1), 1, (4, 11), prior=prior, warm_tasks=tuple(train))
    env = _episode_env(warm, 16, DEFAULT_K)
    assert isinstance(env.prior_model, RankWeightedPrior)
    picked = [target.nearest(c) for c in env.candidates]
    assert picked[:2] == [4, 11] and len(set(picked)) == 16
    best = [int(i) for i in np.argsort(-prior, kind="stable") if i not in (4, 11)][:7]
    assert picked[2:9] == best  # half the places after the portfolio; the rest at random
    np.testing.assert_allclose(env.prior, prior[picked], atol=1e-6)
    cold = _episode_env(Episode(Ledger(target, 60, seed=1), 1), 16, DEFAULT_K)
    assert cold.prior_model is None and (cold.prior == 0.5).all()


def test_the_agents_prior_starts_from_meta_features_and_the_ablations_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tunegym.bench._agent as peer_agent
    from tunegym.envs import DEFAULT_K, config_prior

    pools = table_pools(toy_table(n_configs=30, datasets=3), space=SPACE)
    target, train = pools[0], pools[1:]
    meta = {target.task: np.array([0.2, 0.2]), train[0].task: np.array([0.9, 0.9]),
            train[1].task: np.array([0.2, 0.3])}  # fmt: skip
    monkeypatch.setattr(peer_agent, "prior_meta_features", lambda: meta)
    prior = config_prior(train, target.configs, SPACE)
    warm = Episode(Ledger(target, 60, seed=1), 1, (4, 11), prior=prior, warm_tasks=tuple(train))
    env = peer_agent._episode_env(warm, 16, DEFAULT_K)
    assert env.prior_model is not None and env.prior_model.weights[1] > 0.99  # the nearer task
    ablation = peer_agent._episode_env(warm, 16, DEFAULT_K, meta_prior=False)
    assert ablation.prior_model is not None
    np.testing.assert_allclose(ablation.prior_model.weights, 0.5)


def test_peers_use_their_seed(pool: CurvePool) -> None:
    peer = get_peer("random").load()
    a = run_episode(peer, pool, 60, seed=1).regret
    b = run_episode(peer, pool, 60, seed=2).regret
    assert not np.array_equal(a, b)


def test_unknown_peer_and_a_missing_agent_say_why(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="hyperband"):
        get_peer("hyperbnd")
    monkeypatch.setenv("TUNEGYM_FREEZE_THAW_NO_WS_DIR", str(tmp_path / "nowhere"))
    assert "no trained agent in" in unavailable_peers()["agent-no-ws"]
    assert "agent" not in unavailable_peers()  # the shipped agent
    with pytest.raises(ValueError, match="Unknown peer"):
        BenchPlan(peers=("nope",))


def test_a_table_suite_runs_and_writes_its_report(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "curves.csv"
    toy_table(n_configs=12, datasets=4).to_csv(path, index=False)
    split = tmp_path / "split.json"
    parts = ["meta-train", "meta-train", "meta-test", "meta-test"]
    split.write_text(json.dumps({"format": "tunegym.split", "datasets": [
        {"dataset": f"toy{d}", "family": f"fam{d}", "part": p} for d, p in enumerate(parts)
    ]}))  # fmt: skip
    plan = BenchPlan(suite=str(path), peers=("random", "hyperband", "fixed-script", "curve-race"),
                     budgets=(30,), seeds=3, split=str(split), workers=1)  # fmt: skip
    frame = run_suite(plan)
    warm = frame[frame["peer"] == "fixed-script"]
    assert set(warm["task"]) == {"toy2", "toy3"}  # warm-started: meta-test only
    race = frame[frame["peer"] == "curve-race"]  # its prior re-weights the meta-train tasks
    assert set(race["task"]) == {"toy2", "toy3"} and race["regret"].between(0, 1).all()
    frame = frame[frame["peer"] != "curve-race"]
    assert set(frame.loc[frame["peer"] == "random", "task"]) == {"toy0", "toy1", "toy2", "toy3"}
    assert frame["tuner_seed"].nunique() == 4 * 3
    kw = {"out_dir": tmp_path / "out", "doc": tmp_path / "B.md", "figures_dir": tmp_path / "f"}
    result = write_report(frame, command="cmd", **kw)
    doc = (tmp_path / "B.md").read_text()
    assert "## Suite `curves`" in doc and "| fixed-script |" in doc
    assert {r["peer"] for r in result["meta-test"]} == {"random", "hyperband", "fixed-script"}
    assert {r["peer"] for r in result["all"]} == {"random", "hyperband"}
    # A second run replaces its own section, not the others'.
    write_report(frame, command="cmd2", **kw)
    again = (tmp_path / "B.md").read_text()
    assert again.count("## Suite `curves`") == 1 and "cmd2" in again
    assert len(result["figures"]) == 4  # curves and CD, meta-test and all
    for png in result["figures"]:
        assert (tmp_path / "f").joinpath(png.split("/")[-1]).stat().st_size > 1000
        assert f"](f/{png.split('/')[-1]})" in again
    # One peer alone: no critical-difference diagram (it needs two), the rest as usual.
    alone = write_report(frame[frame["peer"] == "random"], command="one", **kw)
    assert [Path(p).name.endswith("_curves.png") for p in alone["figures"]] == [True, True]


def test_the_report_ranks_what_it_stores(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tunegym.bench import read_results

    rows = []
    for peer, nudge in (("random", 0.0), ("hyperband", 1e-9)):  # equal at the CSV's precision
        for seed in range(3):
            for epoch in range(1, 5):
                rows.append({"peer": peer, "task": "toy", "family": "toy", "part": "meta-test",
                             "budget": 4, "seed": seed, "tuner_seed": seed, "epochs": epoch,
                             "seconds": float(epoch), "regret": 0.5 / epoch + nudge,
                             "test": 0.9, "val": 0.9, "configs": 2,
                             "decision_seconds": 0.01})  # fmt: skip
    frame = pd.DataFrame(rows)
    frame.attrs["bench"] = {"suite": "toy"}
    kw = {"out_dir": tmp_path, "doc": None, "figures_dir": tmp_path / "f"}
    fresh = write_report(frame, command="fresh", **kw)["meta-test"]
    assert {r["peer"]: r["rank"] for r in fresh} == {"random": 1.5, "hyperband": 1.5}
    again = write_report(read_results(tmp_path, "toy"), command="again", **kw)["meta-test"]
    assert again == fresh


def test_the_command_runs_a_curve_table_quickly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from tunegym.cli import app

    path = tmp_path / "mine.csv"
    toy_table(n_configs=12, datasets=2).to_csv(path, index=False)
    args = ["bench", "--suite", str(path), "--quick", "--peer", "random", "--peer", "hyperband",
            "--workers", "1", "--out", str(tmp_path / "out"), "--doc", str(tmp_path / "B.md"),
            "--figures", str(tmp_path / "fig")]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "## Suite `mine`" in (tmp_path / "B.md").read_text()
    assert (tmp_path / "out" / "mine_results.csv.gz").is_file()
    assert len(list((tmp_path / "fig").glob("bench2_mine_*.png"))) == 2
    (tmp_path / "B.md").write_text("# Benchmarks (protocol v2)\n\nlost\n")
    again = CliRunner().invoke(app, [*args, "--report-only"])
    assert again.exit_code == 0, again.output
    assert "## Suite `mine`" in (tmp_path / "B.md").read_text()
    listing = CliRunner().invoke(app, ["bench", "--list"])
    assert "syne-tune" in listing.output and "freeze-thaw" in listing.output
    bad = CliRunner().invoke(app, ["bench", "--suite", "nope"])
    assert bad.exit_code != 0 and "Unknown suite" in str(bad.exception or bad.output)


def test_v1_v2_table_reads_the_kept_summaries(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from experiments.bench_v1_v2 import Args, run

    v1 = pd.DataFrame({"method": ["random", "oracle"], "regret_100": [0.03, 0.005],
                       "regret_100_lo": [0.02, 0.004], "regret_100_hi": [0.04, 0.006],
                       "rank": [8.2, 5.9]})  # fmt: skip
    v1.to_csv(tmp_path / "v1.csv", index=False)
    v2 = pd.DataFrame({"budget": [1000, 1000, 200], "peer": ["random", "asha", "random"],
                       "regret@100": [0.11, 0.08, 0.2], "ci_low": [0.1, 0.07, 0.1],
                       "ci_high": [0.12, 0.09, 0.3], "rank": [2.0, 1.0, 1.0]})  # fmt: skip
    v2.to_csv(tmp_path / "lcbench_all_summary.csv", index=False)
    doc = tmp_path / "B.md"
    doc.write_text("# Benchmarks (protocol v2)\n")
    table = run(Args(v1=str(tmp_path / "v1.csv"), v2=str(tmp_path), doc=str(doc)))
    random = table.set_index("peer").loc["random"]
    assert random["v1 regret@100"] == "0.0300 [0.0200, 0.0400]"
    assert random["lcbench all regret@100"] == "0.1100 [0.1000, 0.1200]"  # the largest budget
    assert random["lcbench all rank"] == "2.00 of 2"
    run(Args(v1=str(tmp_path / "v1.csv"), v2=str(tmp_path), doc=str(doc)))
    assert doc.read_text().count("## The same peers in the v1 harness") == 1


def test_merge_replaces_the_new_peers_rows_and_records_the_merge() -> None:
    import pandas as pd

    from tunegym.bench import merge_results

    def rows(peer: str, regret: float) -> pd.DataFrame:
        return pd.DataFrame({"peer": peer, "budget": 10, "task": "t", "seed": [0, 1],
                             "epochs": 10, "regret": regret})  # fmt: skip

    old = pd.concat([rows("random", 0.5), rows("agent", 0.9)], ignore_index=True)
    old.attrs["bench"] = {"suite": "s", "budgets": [10], "seeds": 2, "command": "tunegym bench"}
    new = rows("agent", 0.1)
    new.attrs["bench"] = {"suite": "s", "budgets": [10], "seeds": 2, "wall_seconds": 3.0}
    merged = merge_results(old, new, "tunegym bench --peer agent --merge")
    assert sorted(merged.groupby("peer")["regret"].mean().to_dict().items()) == [
        ("agent", 0.1),
        ("random", 0.5),
    ]
    assert merged.attrs["bench"]["command"] == "tunegym bench"
    assert merged.attrs["bench"]["merged"][0]["peers"] == ["agent"]
    new.attrs["bench"]["seeds"] = 3
    with pytest.raises(ValueError, match="different seeds"):
        merge_results(old, new, "x")
