"""The freeze-thaw agent (issue 15): its network, its files, its training, its teacher."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.bench._toy import EPOCHS, SPACE, make_pool
from tunegym.agent._candidates import CandidateNet
from tunegym.agent._ftagent import (
    FreezeThawAgent,
    TaskSet,
    episode_candidates,
    load_ft_agent,
    run_ft_episode,
    task_env,
)
from tunegym.agent._fttrain import FTTrainConfig, MetaTrainEnv, relative_area, train_ft_agent
from tunegym.agent._teacher import curve_race, run_teacher_episode
from tunegym.envs import GLOBAL_FIELDS, ROW_FIELDS, CurvePool, FreezeThawEnv, PoolBackend


def toy_suite() -> dict[str, list[CurvePool]]:
    """Six tasks of one set of configurations: four meta-train, one meta-val, one meta-test."""
    parts = ["meta-train"] * 4 + ["meta-val", "meta-test"]
    pools = []
    for t, part in enumerate(parts):
        base = make_pool(n=24, seeds=2)
        shift = 0.02 * np.sin(np.arange(24) * (t + 1))[:, None, None]
        pools.append(CurvePool(f"toy{t}", f"fam{t}", part, SPACE, base.configs,
                               base.val + shift, base.test, base.seconds))  # fmt: skip
    return {"toy": pools}


def test_the_net_is_permutation_equivariant_and_takes_any_n() -> None:
    torch.manual_seed(0)
    net = CandidateNet(n_k=3, hidden=16)
    g, r = len(GLOBAL_FIELDS), len(ROW_FIELDS)
    for n in (5, 40):
        rows = torch.rand(1, n, r)
        rows[:, :, 0] = 1.0
        obs = torch.cat([torch.rand(1, g), rows.reshape(1, -1)], dim=1)
        perm = torch.randperm(n)
        shuffled = torch.cat([obs[:, :g], rows[:, perm].reshape(1, -1)], dim=1)
        a, _ = net(obs)
        b, _ = net(shuffled)
        assert a.shape == (1, n * 3 + 1)
        torch.testing.assert_close(a[0, :-1].reshape(n, 3)[perm], b[0, :-1].reshape(n, 3))
        torch.testing.assert_close(a[0, -1], b[0, -1])


def test_absent_rows_do_not_change_the_present_ones() -> None:
    net = CandidateNet(n_k=2, hidden=8)
    g, r = len(GLOBAL_FIELDS), len(ROW_FIELDS)
    rows = torch.rand(1, 4, r)
    rows[:, :, 0] = 1.0
    padded = torch.cat([rows, torch.zeros(1, 3, r)], dim=1)
    glob = torch.rand(1, g)
    a, _ = net(torch.cat([glob, rows.reshape(1, -1)], dim=1))
    b, _ = net(torch.cat([glob, padded.reshape(1, -1)], dim=1))
    torch.testing.assert_close(a[0, :8], b[0, :8])
    torch.testing.assert_close(a[0, -1], b[0, -1])


def test_task_set_leaves_each_meta_train_task_out_of_its_own_warm_start() -> None:
    suite = toy_suite()
    tasks = TaskSet(suite, portfolio_size=3)
    first = tasks.part("meta-train")[0]
    others = suite["toy"][1:4]
    finals = np.vstack([p.truth[:, -1] for p in others])
    scaled = (finals - finals.min(1, keepdims=True)) / np.ptp(finals, axis=1, keepdims=True)
    np.testing.assert_allclose(first.prior, scaled.mean(0), rtol=1e-5)
    assert len(first.portfolio) == 3 and len(set(first.portfolio)) == 3
    index = episode_candidates(24, 10, first.portfolio, np.random.default_rng(0))
    assert list(index[:3]) == list(first.portfolio) and len(set(index.tolist())) == 10


def test_an_episode_holds_the_priors_best_and_a_prior_that_follows_its_scores() -> None:
    tasks = TaskSet(toy_suite(), portfolio_size=3)
    first = tasks.part("meta-train")[0]
    index = episode_candidates(24, 11, first.portfolio, np.random.default_rng(0),
                               prior=first.prior)  # fmt: skip
    best = [int(i) for i in np.argsort(-first.prior, kind="stable")
            if i not in first.portfolio][:4]  # fmt: skip
    assert list(index[:7]) == [*first.portfolio, *best] and len(set(index.tolist())) == 11
    # the prior re-weights the other meta-train tasks (never the task itself)
    assert [p.task for p in first.warm_tasks] == ["toy1", "toy2", "toy3"]
    env = task_env(first, 60, np.random.default_rng(0), n=16)
    assert env.prior_model is not None
    np.testing.assert_allclose(env.prior_model.curves[0], first.warm_tasks[0].truth[
        [first.pool.nearest(c) for c in env.candidates]])  # fmt: skip
    assert task_env(first, 60, np.random.default_rng(0), n=16, adaptive=False).prior_model is None
    assert task_env(first, 60, np.random.default_rng(0), n=16, warm=False).prior_model is None


def test_the_prior_starts_from_meta_features_unless_the_ablation_has_none() -> None:
    meta = {f"toy{t}": np.array([0.1 * t + 0.05, 0.5]) for t in range(6)}
    task = TaskSet(toy_suite(), portfolio_size=3, prior_meta=meta).part("meta-val")[0]
    assert [p.task for p in task.warm_tasks] == ["toy0", "toy1", "toy2", "toy3"]
    assert task.warm_log_weights is not None
    assert list(np.argsort(-task.warm_log_weights)) == [3, 2, 1, 0]  # toy3 is the nearest
    env = task_env(task, 60, np.random.default_rng(0), n=16)
    assert env.prior_model is not None and np.argmax(env.prior_model.weights) == 3
    ablation = task_env(task, 60, np.random.default_rng(0), n=16, meta_prior=False)
    assert ablation.prior_model is not None
    np.testing.assert_allclose(ablation.prior_model.weights, 0.25)
    plain = TaskSet(toy_suite(), portfolio_size=3).part("meta-val")[0]
    assert plain.warm_log_weights is None  # no meta-features: every task alike


def test_save_load_round_trip_and_tampering_is_refused(tmp_path: Path) -> None:
    net = CandidateNet(n_k=5, hidden=8)
    agent = FreezeThawAgent(net, {"n_k": 5, "hidden": 8, "use_meta": True, "n": 16,
                                  "k_choices": [1, 2, 4, 8, 16]})  # fmt: skip
    folder = agent.save(tmp_path / "a")
    again = load_ft_agent(folder)
    for x, y in zip(net.state_dict().values(), again.net.state_dict().values(), strict=True):
        torch.testing.assert_close(x, y)
    assert again.n_candidates == 16 and again.k_choices == (1, 2, 4, 8, 16)
    weights = folder / "weights.pt"
    weights.write_bytes(weights.read_bytes() + b"x")
    with pytest.raises(ValueError, match="checksum"):
        load_ft_agent(folder)
    spec = json.loads((folder / "agent.json").read_text())
    (folder / "agent.json").write_text(json.dumps({**spec, "format": "other"}))
    with pytest.raises(ValueError, match="not a freeze-thaw agent"):
        load_ft_agent(folder)
    with pytest.raises(FileNotFoundError, match="train-agent --v2"):
        load_ft_agent(tmp_path / "missing")


def _teacher_log(**kwargs: int) -> tuple[FreezeThawEnv, dict]:
    task = TaskSet(toy_suite(), portfolio_size=3).part("meta-test")[0]
    env = task_env(task, 60, np.random.default_rng(0), n=16)
    obs, _ = env.reset(seed=0)
    done = False
    while not done:
        obs, _, terminated, truncated, info = env.step(curve_race(env, obs, **kwargs))
        done = terminated or truncated
    return env, info


def test_the_teacher_races_curves_in_the_warm_start_order() -> None:
    env, info = _teacher_log(probes=0)
    log = env.step_log
    assert log[0]["kind"] == "new" and log[0]["candidate"] == 0  # the portfolio's first pick
    assert env.epochs_done[0] == EPOCHS  # trained to the end: no bar to fall below yet
    starts = [(e["candidate"], e["seed"]) for e in log if e["kind"] == "new"]
    assert len(starts) == len(set(starts)) > 1
    assert info["epochs_used"] == 60


def test_the_teacher_first_probes_the_portfolio_then_trains_the_best_probe() -> None:
    env, info = _teacher_log(probes=3, probe_k=4)
    log = env.step_log
    assert [(e["kind"], e["candidate"], e["epoch_to"]) for e in log[:3]] == [
        ("new", 0, 4), ("new", 1, 4), ("new", 2, 4)
    ]  # fmt: skip
    at_probe = env.curves[:3, 3]
    assert log[3]["kind"] == "continue" and log[3]["candidate"] == int(np.argmax(at_probe))
    assert info["epochs_used"] == 60


def test_meta_training_selects_on_meta_val_and_ships_a_loadable_agent(tmp_path: Path) -> None:
    tasks = TaskSet(toy_suite(), portfolio_size=3)
    config = FTTrainConfig.quick(out=str(tmp_path / "agent"), budgets=(30,), n=12)
    _, rows = train_ft_agent(config, tasks=tasks)
    assert rows[0]["timesteps"] == 0 and len(rows) >= 2  # the cloned policy is a candidate
    best = min(rows, key=lambda r: (r["relative"], r["final"]))
    loaded = load_ft_agent(tmp_path / "agent")
    assert loaded.spec["selected"]["val_relative"] == pytest.approx(best["relative"])
    assert loaded.spec["selected"]["val_area"] == pytest.approx(best["area"])
    assert loaded.spec["selected"]["teacher_val_area"] > 0
    assert loaded.spec["behaviour_cloning"]["teacher"] == "curve_race"
    assert (tmp_path / "agent" / "evaluations.csv").is_file()
    env = task_env(tasks.part("meta-test")[0], 30, np.random.default_rng(1), n=20)
    info = run_ft_episode(loaded, env, seed=1)  # trained on 12 candidates, runs on 20
    assert info["epochs_used"] <= 30 and info["incumbent"] is not None


@pytest.mark.parametrize("first_wins", [True, False])
def test_selection_s_pick_is_confirmed_on_more_seeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first_wins: bool
) -> None:
    from tunegym.agent import _fttrain

    calls: list[int] = []
    seen: list[dict[str, torch.Tensor]] = []

    def evaluate(agent: FreezeThawAgent, tasks, budgets, seeds, *, teacher=None, **kw):  # type: ignore[no-untyped-def]
        if seeds == 1:  # selection's evaluations: each later policy looks better
            calls.append(1)
            area = 1.0 if teacher is not None else 1.0 / (len(calls) + 1)
            return {"area": area, "final": 0.0, "area toy 30": area}
        assert seeds == 3 and agent.n_candidates == 10  # the check's seeds and candidates
        seen.append({k: v.clone() for k, v in agent.net.state_dict().items()})
        area = 0.1 if (len(seen) == 1) == first_wins else 0.2  # the first policy, then the pick
        return {"area": area, "final": 0.0, "area toy 30": area}

    monkeypatch.setattr(_fttrain, "evaluate_tasks", evaluate)
    tasks = TaskSet(toy_suite(), portfolio_size=3)
    config = FTTrainConfig.quick(out=str(tmp_path / "a"), budgets=(30,), n=12, learning_rate=1e-2,
                                 confirm_seeds=3, confirm_n=10)  # fmt: skip
    agent, _ = train_ft_agent(config, tasks=tasks)
    confirmed = agent.spec["selected"]["confirmed"]
    assert confirmed["kept"] == ("first" if first_wins else "selected")
    assert confirmed["selected_relative_to_first"] == pytest.approx(2.0 if first_wins else 0.5)
    assert len(seen) == 2 and any(not torch.equal(seen[0][k], seen[1][k]) for k in seen[0])
    kept = seen[0] if first_wins else seen[1]
    for key, value in load_ft_agent(tmp_path / "a").net.state_dict().items():
        torch.testing.assert_close(value, kept[key])
    assert agent.n_candidates == 12  # the check does not change the agent's own n
    with pytest.raises(ValueError, match="confirm_seeds"):
        FTTrainConfig(confirm_seeds=-1)


def test_meta_train_env_draws_tasks_and_keeps_its_spaces() -> None:
    tasks = TaskSet(toy_suite(), portfolio_size=3).part("meta-train")
    env = MetaTrainEnv(tasks, FTTrainConfig.quick(budgets=(20, 40), n=30), seed=0)
    seen = set()
    for s in range(6):
        obs, _ = env.reset(seed=s)
        assert obs.shape == env.observation_space.shape
        seen.add((env.env.backend.pool.task, env.env.budget))
    assert len(seen) > 1


class _StopFirst(torch.nn.Module):
    """A net whose stop logit is always the highest."""

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = torch.zeros(obs.shape[0], 4 * 5 + 1)
        logits[:, -1] = 10.0
        return logits, torch.zeros(obs.shape[0], 1)


def test_with_no_price_the_agent_never_stops_while_an_epoch_can_be_bought() -> None:
    agent = FreezeThawAgent(_StopFirst(), {"n_k": 5, "hidden": 8})  # type: ignore[arg-type]
    obs = np.zeros(len(GLOBAL_FIELDS) + 4 * len(ROW_FIELDS), dtype=np.float32)
    mask = np.ones(4 * 5 + 1, dtype=bool)
    assert agent.act(obs, mask) != 20  # stopping cannot pay: the regret only falls
    only_stop = np.zeros_like(mask)
    only_stop[-1] = True
    assert agent.act(obs, only_stop) == 20
    obs[GLOBAL_FIELDS.index("price")] = 0.5  # the net never saw a price: it reads 0
    assert agent.act(obs, mask) != 20


def test_under_a_price_the_agent_and_its_teacher_stop_when_the_rest_is_not_worth_it() -> None:
    pool = make_pool(n=12, seeds=2)
    agent = FreezeThawAgent(CandidateNet(5, 8), {"n_k": 5, "hidden": 8})
    for price in (0.0, 1.0):
        for policy in ("agent", "teacher"):
            env = FreezeThawEnv(SPACE, pool.configs, PoolBackend(pool), budget=60,
                                max_epochs=EPOCHS, trial_seeds=(0, 1), price=price)  # fmt: skip
            if policy == "agent":
                run_ft_episode(agent, env, seed=0)
            else:
                run_teacher_episode(env, seed=0)
            kinds, used = [e["kind"] for e in env.step_log], env.step_log[-1]["epochs_used"]
            if price == 0:
                assert "stop" not in kinds and used == 60
            else:  # no gain is worth a whole budget's price: it stops after the first window
                assert kinds[-1] == "stop" and 24 < used < 24 + 16
    obs, _ = env.reset(seed=1)
    with_price = agent.act(obs, env.action_masks())
    obs[GLOBAL_FIELDS.index("price")] = 0.0
    assert agent.act(obs, env.action_masks()) == with_price  # the price moves only the stop


def test_relative_area_weighs_every_setting_alike() -> None:
    teacher = {"area": 0.055, "area lcbench 200": 0.1, "area own 200": 0.01}
    assert relative_area({"area lcbench 200": 0.05, "area own 200": 0.02}, teacher) == (
        pytest.approx(1.0)
    )  # half on one, twice on the other: the plain mean area would call it far better
    assert relative_area({"area lcbench 200": 0.1, "area own 200": 0.005}, teacher) < 1


def test_cloning_runs_on_its_own_threads_and_gives_them_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tunegym.agent._fttrain as _fttrain

    fit = _fttrain._fit
    threads: list[int] = []

    def counted(*args: object) -> None:
        threads.append(torch.get_num_threads())
        fit(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(_fttrain, "_fit", counted)
    tasks = TaskSet(toy_suite(), portfolio_size=3)
    config = FTTrainConfig.quick(out=str(tmp_path / "agent"), budgets=(30,), n=12, bc_threads=2)
    train_ft_agent(config, tasks=tasks)
    assert threads == [2] and torch.get_num_threads() == 1  # PPO's one thread again
    with pytest.raises(ValueError, match="bc_threads must be an int >= 1, got 0"):
        FTTrainConfig(bc_threads=0)


def test_the_teacher_can_first_probe_the_pick_similar_tasks_show_ahead_early() -> None:
    task = TaskSet(toy_suite(), portfolio_size=3).part("meta-test")[0]
    env = task_env(task, 60, np.random.default_rng(0), n=16)
    obs, _ = env.reset(seed=0)
    assert env.prior_model is not None
    np.testing.assert_allclose(  # what the rows show: the weighted tasks' look at epoch 8
        _rows(env, obs)[:16, ROW_FIELDS.index("prior_early")], env.prior_model.at_epoch(8)
    )
    ks = len(env.k_choices)

    def first(ahead: int, **kwargs: str) -> int:
        shown = obs.copy()
        _rows(env, shown)[[0, 1], ROW_FIELDS.index("prior_early")] = [ahead == 0, ahead == 1]
        return curve_race(env, shown, probes=3, probe_k=4, **kwargs) // ks

    for ahead in (0, 1):  # the portfolio's first two picks: candidates 0 and 1
        assert first(ahead, first="early") == ahead
        assert first(ahead) == first(ahead, first="portfolio") == 0  # the default: the first pick
    with pytest.raises(ValueError, match="first must be one of"):
        first(0, first="best")
    with pytest.raises(ValueError, match="teacher_first must be one of"):
        FTTrainConfig(teacher_first="best")


def _rows(env: FreezeThawEnv, obs: np.ndarray) -> np.ndarray:
    return obs[len(GLOBAL_FIELDS) :].reshape(env.rows, len(ROW_FIELDS))
