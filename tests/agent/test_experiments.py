"""experiments/train_agent.py and eval_agent.py run end to end on the tiny meta-dataset."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from tunegym.agent import AGENT_FILE, MetaDataset, load_agent

EXPERIMENTS = Path(__file__).parents[2] / "experiments"


def script(name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXPERIMENTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_train_agent_script(
    meta: MetaDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train = script("train_agent", monkeypatch)
    args = train.parse_args(["--quick", "--out", str(tmp_path / "agent"), "--seed", "3"])
    record = train.run(args, meta)
    assert record["config"]["seed"] == 3 and record["timesteps"] >= 64
    written = json.loads((tmp_path / "agent" / "train_agent.json").read_text())
    assert written["selected"] == record["selected"] and written["args"]["quick"] is True
    assert load_agent(tmp_path / "agent").spec.training["config"]["seed"] == 3


def test_eval_agent_script(
    meta: MetaDataset, agent_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    evaluate = script("eval_agent", monkeypatch)
    parts = {
        "sklearn:iris": "meta-train",
        "sklearn:wine": "meta-val",
        "sklearn:breast_cancer": "meta-test",
    }
    held_out = MetaDataset.from_curves(meta.curves, parts, meta.features)
    doc = tmp_path / "AGENT.md"
    doc.write_text("# Agent\n\nhand-written text\n")
    argv = ["--quick", "--agent", str(agent_dir), "--out", str(tmp_path), "--doc", str(doc),
            "--live-datasets", "sklearn:breast_cancer"]  # fmt: skip
    record = evaluate.run(evaluate.parse_args(argv), held_out)

    assert record["test_datasets"] == ["sklearn:breast_cancer"]
    methods = [s["method"] for s in record["summary"]]
    assert methods == ["agent", "random", "hyperband"]
    replay = pd.read_csv(tmp_path / "agent_eval_replay.csv")
    assert len(replay) == 3 * 2  # methods x seeds
    assert (replay["regret_25"] >= replay["regret_100"]).all()  # regret never rises
    live = pd.read_csv(tmp_path / "agent_eval_live.csv")
    assert set(live["method"]) == {"agent", "random"}
    assert (live["epochs_used"] <= live["budget"]).all()
    assert record["decision_ms_replay"]["p95"] >= record["decision_ms_replay"]["p50"] > 0
    text = doc.read_text()
    assert text.startswith("# Agent\n\nhand-written text\n")
    assert "| agent |" in text and "Random search needs" in text
    evaluate.run(evaluate.parse_args(argv), held_out)  # a rerun replaces its section
    assert doc.read_text().count("eval_agent:start") == 1
    assert AGENT_FILE not in {p.name for p in tmp_path.iterdir()}


def test_pilot_headroom_against_median_and_learned_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    headroom = script("pilot_headroom", monkeypatch).headroom
    scores = pd.DataFrame(
        {
            "dataset": ["a"] * 3 + ["b"] * 3 + ["c"] * 3,
            "n_rows": [1000] * 3 + [2000] * 3 + [500] * 3,
            "config": ["x", "y", "z"] * 3,
            "val": [0.90, 0.80, 0.70, 0.85, 0.95, 0.60, 0.50, 0.90, 0.70],
        }
    )
    table = headroom(scores).set_index("dataset")
    assert table.loc["a", "best_minus_median"] == pytest.approx(10.0)
    # the learned default of "a" is y (best mean rank on b and c): 0.90 - 0.80
    assert table.loc["a", "best_minus_default"] == pytest.approx(10.0)
    assert table.loc["b", "best_minus_default"] == pytest.approx(0.0)  # y again, b's best
    assert table.loc["c", "val_rows"] == 100


def test_metadataset_v2_script_ships_complete_datasets_and_measures_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tunegym.envs import SearchSpace, collect
    from tunegym.metastore import MetaStore, snapshot_split, snapshot_stats
    from tunegym.space import LCBENCH_SPACE

    v2 = script("metadataset_v2", monkeypatch)
    search = SearchSpace.sampled(LCBENCH_SPACE, 3, seed=0, max_epochs=2, k_choices=(1, 2))
    store = tmp_path / "v2.sqlite"
    with MetaStore(store) as ms:
        collect(["sklearn:iris", "keel:letter", "sklearn:wine"], search, (0, 1), store=ms,
                max_rows=300)  # fmt: skip
        collect(["sklearn:breast_cancer"], search, (0,), store=ms)  # half done: left out
    args = v2.Args(
        store=str(store), snapshot=str(tmp_path / "snap"), configs=3, seeds=2, max_rows=300,
        figures=str(tmp_path / "figures"),
    )  # fmt: skip
    summary, table, families = v2.run(args)
    assert summary["datasets"] == 3 and summary["runs"] == 18
    assert summary["left_out_in_collection"] == {"sklearn:breast_cancer": 3}
    assert snapshot_stats(tmp_path / "snap").configs == 3
    # v1's family assignment is kept: letter is held out there, so it is here.
    assert snapshot_split(tmp_path / "snap").set_index("dataset").loc["keel:letter", "part"] == (
        "meta-test"
    )
    assert set(table["dataset"]) == {"sklearn:iris", "keel:letter", "sklearn:wine"}
    assert (table["best_minus_median"] >= 0).all() and (table["best_minus_default"] >= 0).all()
    assert set(families["family"]) == set(table["family"])
    for name in ("headroom.csv", "headroom.png", "curves.png", "summary.json"):
        assert (tmp_path / "figures" / f"metadataset_v2_{name}").stat().st_size > 0


def test_choose_space_tuner_script_ranks_tuners_on_lcbench(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    choose = script("choose_space_tuner", monkeypatch)
    figure = tmp_path / "cd.png"
    args = choose.Args(suite="lcbench", seeds=2, budget=60, workers=1, tasks=2,
                       methods=["random", "hyperband"], out=str(tmp_path / "e.csv"),
                       figure=str(figure))  # fmt: skip
    table = choose.run(args)
    assert figure.stat().st_size > 0
    again = choose.run(choose.Args(suite="lcbench", episodes=str(tmp_path / "e.csv")))
    pd.testing.assert_frame_equal(again, table)  # the same table from the saved episodes
    assert set(table.index) == {"random", "hyperband"}
    assert (table["episodes"] == 4).all()
    assert (
        table["area"].between(0, 1).all() and (table["final_regret"] <= table["area"] + 1e-9).all()
    )
    with pytest.raises(ValueError, match="lcbench or v2"):
        choose.run(choose.Args(suite="own"))


def test_finetune_benchmark_reads_hurt_beyond_seed_noise_and_its_noise_floor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bench = script("finetune_benchmark", monkeypatch)
    from tunegym.envs import finetune_pools

    arms = bench.ARMS
    args = bench.Args(part="meta-val", budgets=(20,), seeds=3)
    results = bench.run(args)
    assert results.groupby("arm")["seed"].apply(sorted).to_dict() == {
        arm: sorted([0, 1, 2] * 7) for arm in ("scratch", "scratch-again", "transfer")
    }
    # the transfer check: where the source's features do not help, the transfer arm is the
    # scratch arm, seed for seed
    added = results.groupby("task")["finetune_added"].first()
    assert added.any() and not added.all()
    off = results[results["task"] == added.index[~added][0]]
    arm = {a: off[off["arm"] == a].sort_values("seed")["regret"].to_list() for a in arms}
    assert arm["transfer"] == arm["scratch"]
    pools = {p.task: p for p in finetune_pools(part="meta-val")}
    table, text = bench.summarise(results, pools)
    assert "## The noise floor" in text and len(table) == 7
    assert {"worse_beyond_noise", "again_hurt", "again_worse_beyond_noise"} <= set(table)
    # transfer run as scratch, seed for seed: never hurt, by either reading
    same = results[results["arm"] != "transfer"].copy()
    twin = same[same["arm"] == "scratch"].assign(arm="transfer")
    table, _ = bench.summarise(pd.concat([same, twin]), pools)
    assert not table["hurt"].any() and not table["worse_beyond_noise"].any()
    # one seed a regret worse is strictly worse, but within seed noise
    bumped = twin.assign(regret=[[1.0] * 20, *twin["regret"].iloc[1:]])
    table, _ = bench.summarise(pd.concat([same, bumped]), pools)
    assert table["hurt"].sum() == 1 and not table["worse_beyond_noise"].any()


def test_price_sweep_runs_pairs_and_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.bench._toy import EPOCHS, SPACE, make_pool
    from tunegym.agent._candidates import CandidateNet
    from tunegym.agent._ftagent import FreezeThawAgent
    from tunegym.envs import FreezeThawEnv, PoolBackend

    sweep = script("price_sweep", monkeypatch)
    pool = make_pool(n=12, seeds=2)
    agent = FreezeThawAgent(CandidateNet(5, 8), {"n_k": 5, "hidden": 8})
    rows = []
    for price in (0.0, 1.0):
        env = FreezeThawEnv(SPACE, pool.configs, PoolBackend(pool), budget=60,
                            max_epochs=EPOCHS, trial_seeds=(0, 1), price=price)  # fmt: skip
        curve, spent = sweep.episode(agent, env, 0, 0.2)
        assert len(curve) == 60 and (spent == 1.0) == (price == 0.0)
        rows.append({"suite": "toy", "task": "toy0", "budget": 60, "seed": 0, "window": 0.2,
                     "price": price, "spent": spent, "final": curve[-1], "full_final": 0.1,
                     "cost": curve.mean() + price * spent, "full_cost": 1.0})  # fmt: skip
    args = sweep.argparse.Namespace(csv=tmp_path / "p.csv", png=tmp_path / "p.png",
                                    windows=[0.2], part="meta-val")  # fmt: skip
    sweep.report(rows, args)
    assert "| toy | 60 | 1 |" in capsys.readouterr().out
    assert len(pd.read_csv(tmp_path / "p.csv")) == 2 and (tmp_path / "p.png").stat().st_size > 0
    sweep.against(rows[1:], tmp_path / "p.csv")  # a run against itself: the same cost
    out = capsys.readouterr().out
    assert "| toy | 60 | 1 |" in out and "| 1.000 | 100% |" in out


def test_agent_picks_reads_the_peers_ledgers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    picks = script("agent_picks", monkeypatch)
    monkeypatch.setattr(sys, "argv", ["agent_picks.py", "--task", "keel:letter", "--budget",
                                      "60", "--seeds", "0", "--good", "0.9", "--peer", "agent",
                                      "--peer", "agent-no-ws"])  # fmt: skip
    picks.main()
    out = capsys.readouterr().out
    assert out.startswith("keel:letter, 60 epochs: ")
    rows = [line.split(" | ") for line in out.splitlines() if line.startswith("| 0 |")]
    assert [r[1] for r in rows] == ["agent", "agent-no-ws"]
    pool = next(p for p in picks.load_suite("own") if p.task == "keel:letter")
    for row in rows:
        configs, to_max, _, best, best_to_max = (int(v) for v in row[3:8])
        assert configs >= 1 and 0 <= to_max <= configs and 0 <= best_to_max <= best <= configs
        config, epoch = (int(v) for v in row[8].split(" @ "))
        truth, regret = float(row[9]), float(row[10].strip(" |"))
        assert 1 <= epoch <= 50 and truth == pytest.approx(pool.truth[config, epoch - 1], abs=1e-4)
        assert regret == pytest.approx(pool.regret(pool.truth[config, epoch - 1]), abs=1e-4)


def test_agent_picks_gives_every_peer_the_candidates_asked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    picks = script("agent_picks", monkeypatch)
    monkeypatch.setattr(sys, "argv", ["agent_picks.py", "--task", "keel:letter", "--budget", "200",
                                      "--seeds", "0", "--candidates", "6", "--peer", "agent",
                                      "--peer", "curve-race"])  # fmt: skip
    picks.main()
    rows = [line.split(" | ") for line in capsys.readouterr().out.splitlines()
            if line.startswith("| 0 |")]  # fmt: skip
    # 200 epochs on 6 candidates of 50 epochs: each trains at most all six, and some to E_max
    assert [r[1] for r in rows] == ["agent", "curve-race"]
    assert all(int(r[3]) <= 6 and int(r[4]) >= 1 for r in rows)


def test_agent_picks_names_an_unknown_task(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    picks = script("agent_picks", monkeypatch)
    monkeypatch.setattr(sys, "argv", ["agent_picks.py", "--task", "keel:leter"])
    with pytest.raises(SystemExit):
        picks.main()
    err = capsys.readouterr().err
    assert "no task 'keel:leter' in the own suite" in err and "keel:letter" in err


def test_weight_soup_averages_agents_of_one_architecture(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import torch

    from tunegym.agent._candidates import CandidateNet
    from tunegym.agent._ftagent import FreezeThawAgent, load_ft_agent

    soup = script("weight_soup", monkeypatch)
    folders = []
    for i in range(3):
        torch.manual_seed(i)
        agent = FreezeThawAgent(CandidateNet(5, 8), {"n_k": 5, "hidden": 8, "n": 32 + i})
        folders.append(agent.save(tmp_path / f"a{i}"))
    mixed = load_ft_agent(soup.soup(tmp_path / "soup", folders))
    states = [load_ft_agent(f).net.state_dict() for f in folders]
    for key, value in mixed.net.state_dict().items():
        assert torch.allclose(value, (states[0][key] + states[1][key] + states[2][key]) / 3)
    assert mixed.n_candidates == 32  # the first agent's settings
    assert [s["agent"] for s in mixed.spec["soup"]] == [str(f) for f in folders]

    with pytest.raises(ValueError, match="at least two agents"):
        soup.soup(tmp_path / "one", folders[:1])
    FreezeThawAgent(CandidateNet(5, 16), {"n_k": 5, "hidden": 16}).save(tmp_path / "wide")
    with pytest.raises(ValueError, match=r"differs from .* in hidden"):
        soup.soup(tmp_path / "bad", [folders[0], tmp_path / "wide"])
    gated = CandidateNet(5, 8, stop_gate=True)
    FreezeThawAgent(gated, {"n_k": 5, "hidden": 8, "stop": {}}).save(tmp_path / "gated")
    with pytest.raises(ValueError, match="learned stop gate"):
        soup.soup(tmp_path / "bad", [folders[0], tmp_path / "gated"])


def test_agent_targets_leaves_out_a_task_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    targets = script("agent_targets", monkeypatch)
    frame = pd.DataFrame(
        [
            {"peer": peer, "task": task, "part": part}
            for peer in ("agent", "oracle")
            for task in ("t1", "t2")
            for part in ("meta-test", "meta-val")
        ]
    )
    every = targets.meta_test(frame, [])
    assert sorted(zip(every["peer"], every["task"], strict=True)) == [
        ("agent", "t1"),
        ("agent", "t2"),
    ]
    assert set(targets.meta_test(frame, ["t2"])["task"]) == {"t1"}
    alone = targets.meta_test(frame, ["t2"], oracle=True)
    assert sorted(zip(alone["peer"], alone["task"], strict=True)) == [("oracle", "t1")]
    monkeypatch.setattr(sys, "argv", ["agent_targets.py", "--leave-out", "t2"])
    with pytest.raises(SystemExit):  # a diagnostic never overwrites the targets file
        targets.main()


def test_agent_targets_per_task_table_reads_each_episodes_last_epoch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    targets = script("agent_targets", monkeypatch)
    rows = []
    for peer, ends in {"agent": (0.2, 0.0), "rival": (0.1, 0.0), "twin": (0.2, 0.0)}.items():
        for seed in (0, 1):
            for epochs, regret in ((1, 0.9), (5, ends[0] + seed * 0.1)):
                rows.append({"peer": peer, "task": "t1", "seed": seed, "epochs": epochs,
                             "regret": regret})  # fmt: skip
            rows.append({"peer": peer, "task": "t2", "seed": seed, "epochs": 5,
                         "regret": ends[1]})  # fmt: skip
    lines = targets.per_task(pd.DataFrame(rows)[::-1], ["agent", "rival", "twin"])
    assert lines[2] == "| task | agent | rival | twin |"
    assert lines[4] == "| t1 | 0.2500 | **0.1500** | 0.2500 |"  # the last epoch, seed mean
    assert lines[5] == "| t2 | 0.0000 | 0.0000 | 0.0000 |"


def test_agent_targets_reads_the_oracle_against_the_target(monkeypatch: pytest.MonkeyPatch) -> None:
    targets = script("agent_targets", monkeypatch)

    def episodes(peer: str, finals: tuple[float, float]) -> pd.DataFrame:
        rows = [{"peer": peer, "task": task, "family": task, "part": "meta-test", "budget": 10,
                 "seed": seed, "tuner_seed": seed, "epochs": epochs, "seconds": float(epochs),
                 "regret": 0.5 if epochs == 1 else final, "test": 0.9, "val": 0.9, "configs": 1,
                 "decision_seconds": 0.0}
                for task, final in zip(("t1", "t2"), finals, strict=True)
                for seed in (0, 1) for epochs in (1, 10)]  # fmt: skip
        return pd.DataFrame(rows)

    rival = episodes("rival", (0.02, 0.02))
    ranks = targets.oracle_ranks(rival, episodes("oracle", (0.01, 0.03)), {0.1: 1, 1.0: 10})
    assert ranks[1].endswith(
        "would be 10% 1.50; 100% 1.50 (in brackets: a method ranked above it)."
    )
    ranks = targets.oracle_ranks(rival, episodes("oracle", (0.03, 0.03)), {1.0: 10})
    assert ranks[1].endswith(
        "would be 100% 2.00 (rival 1.00) (in brackets: a method ranked above it)."
    )
    line = targets.oracle_line(rival, episodes("oracle", (0.01, 0.0)), "rival")
    assert line[1].startswith(
        "Reference: the oracle (one E_max trial of the configuration it knows is best)"
    )
    assert "final regret 0.0050, 0.25 [" in line[1]
    assert line[1].endswith("times rival's, within the target.")
    line = targets.oracle_line(rival, episodes("oracle", (0.02, 0.01)), "rival")
    assert "0.75 [" in line[1]
    assert "above the target: knowing the task's curves does not reach it either" in line[1]
    assert targets.oracle_line(rival, rival.iloc[:0], "rival") == []
    assert targets.oracle_ranks(rival, rival.iloc[:0], {1.0: 10}) == []
