"""Learning when to stop: the gated stop logit, the price's reach, and the training stage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import tunegym.agent._stoptrain as _stoptrain
from tests.agent.test_freeze_thaw_agent import toy_suite
from tests.bench._toy import EPOCHS, SPACE, make_pool
from tunegym.agent._candidates import STOP_INPUTS, CandidateNet, upgrade_state_dict
from tunegym.agent._ftagent import (
    FreezeThawAgent,
    TaskSet,
    load_ft_agent,
    run_ft_episode,
    task_env,
)
from tunegym.agent._fttrain import FTTrainConfig, train_ft_agent
from tunegym.agent._stoptrain import SHIPPED_RECIPE, train_stop, train_with_stop
from tunegym.cli import app
from tunegym.envs import (
    GLOBAL_FIELDS,
    ROW_FIELDS,
    STOP_WINDOW,
    FreezeThawEnv,
    PoolBackend,
    priced_stop,
    recent_gain,
)

_G, _R = len(GLOBAL_FIELDS), len(ROW_FIELDS)
PRICE, GAIN = GLOBAL_FIELDS.index("price"), GLOBAL_FIELDS.index("recent_gain")
USED = GLOBAL_FIELDS.index("budget_used")


def observation(n: int = 6, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    rows = torch.rand(1, n, _R, generator=g)
    rows[:, :, 0] = 1.0
    return torch.cat([torch.rand(1, _G, generator=g), rows.reshape(1, -1)], dim=1)


def test_a_gated_stop_is_taken_with_probability_sigmoid_of_its_gate() -> None:
    torch.manual_seed(0)
    net = CandidateNet(n_k=3, hidden=8, stop_gate=True)
    with torch.no_grad():
        net.stop.weight.zero_()
        for gate in (-3.0, 0.0, 2.0):
            net.stop.bias.fill_(gate)
            for seed in range(3):  # whatever the advance logits are
                logits, _ = net(observation(seed=seed))
                p_stop = torch.softmax(logits, dim=1)[0, -1]
                assert float(p_stop) == pytest.approx(1 / (1 + np.exp(-gate)), rel=1e-5)


def test_a_learned_stop_waits_for_the_first_epoch() -> None:
    # a gate that always wants to stop, under a price: not before an epoch is trained (a run
    # returns a model), at once after; with no price, never
    torch.manual_seed(0)
    net = CandidateNet(n_k=3, hidden=8, stop_gate=True)
    with torch.no_grad():
        net.stop.weight.zero_()
        net.stop.bias.fill_(50.0)
    agent = FreezeThawAgent(net, {"n_k": 3, "hidden": 8, "stop": {}})
    obs = observation()[0].numpy()
    mask = np.ones(6 * 3 + 1, dtype=bool)
    stop = len(mask) - 1
    obs[PRICE] = 1.0
    obs[USED] = 0.0
    assert agent.act(obs, mask) != stop
    obs[USED] = 0.1
    assert agent.act(obs, mask) == stop
    obs[PRICE] = 0.0
    assert agent.act(obs, mask) != stop


def test_the_price_reaches_the_stop_logit_and_nothing_else() -> None:
    torch.manual_seed(0)
    net = CandidateNet(n_k=3, hidden=8)
    with torch.no_grad():
        net.stop.weight[0, 8 + STOP_INPUTS.index("price")] = 5.0
    obs = observation()
    cheap, dear = obs.clone(), obs.clone()
    cheap[0, PRICE], dear[0, PRICE] = 0.0, 0.5
    a, _ = net(cheap)
    b, _ = net(dear)
    torch.testing.assert_close(a[0, :-1], b[0, :-1])  # the same candidates at every price
    assert float((b[0, -1] - a[0, -1]).detach()) == pytest.approx(5 * (np.log10(0.5) / 4 + 1))


def test_a_net_saved_before_the_stop_inputs_computes_what_it_did() -> None:
    torch.manual_seed(0)
    net = CandidateNet(n_k=3, hidden=8)
    with torch.no_grad():  # what an older net was: no weight on recent_gain or the stop inputs
        net.context[0].weight[:, GAIN] = 0.0
        net.stop.weight[:, 8:] = 0.0
    state = net.state_dict()
    old = dict(state)
    old["stop.weight"] = state["stop.weight"][:, :8]
    keep = [i for i in range(state["context.0.weight"].shape[1]) if i != GAIN]
    old["context.0.weight"] = state["context.0.weight"][:, keep]
    loaded = CandidateNet(n_k=3, hidden=8)
    loaded.load_state_dict(upgrade_state_dict(old))
    obs = observation()
    torch.testing.assert_close(loaded(obs)[0], net(obs)[0])


def test_recent_gain_is_what_the_rule_and_the_observation_read() -> None:
    pool = make_pool(n=12, seeds=2)
    env = FreezeThawEnv(SPACE, pool.configs, PoolBackend(pool), budget=60, max_epochs=EPOCHS,
                        trial_seeds=(0, 1), price=0.05)  # fmt: skip
    obs, _ = env.reset(seed=0)
    window = round(STOP_WINDOW * 60)
    seen_before = seen_after = False
    while not priced_stop(env) and env.action_masks()[:-1].any():
        gain = recent_gain(env)
        if gain is None:
            assert env.step_log == [] or env.step_log[-1]["epochs_used"] <= window
            assert obs[GAIN] == 1.0  # before a whole window: as if the search were racing
            seen_before = True
        else:
            assert obs[GAIN] == pytest.approx(min(max(gain, 0.0), 1.0))
            assert gain >= env.price  # the rule has not stopped yet
            seen_after = True
        obs, *_ = env.step(int(np.flatnonzero(env.action_masks()[:-1])[0]))
    assert seen_before and (seen_after or priced_stop(env))


def test_learning_when_to_stop_starts_from_an_agent_and_ships_one_that_stops(
    tmp_path: Path,
) -> None:
    tasks = TaskSet(toy_suite(), portfolio_size=3)
    base = FTTrainConfig.quick(out=str(tmp_path / "agent"), budgets=(30,), n=12)
    train_ft_agent(base, tasks=tasks)
    config = FTTrainConfig.stop(out=str(tmp_path / "stop"), quick=True, budgets=(30,),
                                init=str(tmp_path / "agent"), bc_episodes=3)  # fmt: skip
    _, rows = train_stop(config, tasks=tasks)
    assert rows[0]["rule"] == 1.0 and len(rows) >= 3  # the rule, the imitation, PPO
    loaded = load_ft_agent(tmp_path / "stop")
    assert loaded.learned_stop and loaded.net.stop_gate
    selected = loaded.spec["stop"]["selected"]
    assert selected["val_relative"] == pytest.approx(min(r["relative"] for r in rows[1:]))
    assert selected["rule_val_relative"] == pytest.approx(rows[0]["relative"])
    assert (tmp_path / "stop" / "stop_evaluations.csv").is_file()
    before = load_ft_agent(tmp_path / "agent")
    task = tasks.part("meta-test")[0]
    for agent in (before, loaded):  # with no price, both spend the whole budget alike
        env = task_env(task, 30, np.random.default_rng(1), n=12)
        run_ft_episode(agent, env, seed=1)
        assert "stop" not in [e["kind"] for e in env.step_log]
        assert env.step_log[-1]["epochs_used"] == 30
    with torch.no_grad():  # a gate wide open: under a price it stops after the first step
        loaded.net.stop.weight.zero_()
        loaded.net.stop.bias.fill_(20.0)
    env = task_env(task, 30, np.random.default_rng(1), n=12, price=0.01)
    run_ft_episode(loaded, env, seed=1)
    assert [e["kind"] for e in env.step_log] == ["new", "stop"]
    assert 0 < env.step_log[-1]["epochs_used"] < 30


def test_learn_stop_is_a_v2_option() -> None:
    result = CliRunner().invoke(app, ["train-agent", "--learn-stop"])
    assert result.exit_code != 0 and "--v2" in result.output
    result = CliRunner().invoke(app, ["train-agent", "--v2", "--learn-stop", "--no-meta"])
    assert result.exit_code != 0 and "--no-meta" in result.output


def test_one_run_trains_the_policy_then_when_it_stops(tmp_path: Path) -> None:
    tasks = TaskSet(toy_suite(), portfolio_size=3)
    out = tmp_path / "shipped"
    agent = train_with_stop(out, quick=True, tasks=tasks, budgets=(30,), n=12)
    policy = load_ft_agent(out / "policy")
    assert not policy.learned_stop and "behaviour_cloning" in policy.spec  # cloned, then PPO
    loaded = load_ft_agent(out)
    assert loaded.learned_stop and loaded.spec["recipe"] == agent.spec["recipe"]
    assert loaded.spec["stop"]["init"] == str(out / "policy")
    assert loaded.spec["recipe"]["stages"] == {"policy": str(out / "policy"), "stop": str(out)}
    assert loaded.spec["recipe"]["seconds"] > 0
    for name, value in loaded.net.state_dict().items():  # the stop stage trains its gate alone
        if not name.startswith("stop."):
            torch.testing.assert_close(value, policy.net.state_dict()[name], msg=name)
    assert (out / "stop_evaluations.csv").is_file() and (
        out / "policy" / "evaluations.csv"
    ).is_file()


def test_one_run_splits_its_minutes_and_says_when_too_few_are_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[FTTrainConfig] = []

    def policy_stage(config: FTTrainConfig, **_: object) -> None:
        seen.append(config)

    monkeypatch.setattr(_stoptrain, "train_ft_agent", policy_stage)
    tasks = TaskSet(toy_suite(), portfolio_size=3)
    with pytest.raises(ValueError, match=r"leaving .* to learn when to stop.*--learn-stop --init"):
        train_with_stop(tmp_path / "a", minutes=3.5, tasks=tasks)
    first = seen[0]
    assert first.max_minutes == pytest.approx(1.75) and first.out == str(tmp_path / "a" / "policy")
    assert {k: getattr(first, k) for k in SHIPPED_RECIPE} == SHIPPED_RECIPE

    def stop_stage(config: FTTrainConfig, **_: object) -> None:
        seen.append(config)
        raise RuntimeError("stop stage reached")

    monkeypatch.setattr(_stoptrain, "train_stop", stop_stage)
    with pytest.raises(RuntimeError, match="stop stage reached"):
        train_with_stop(tmp_path / "b", minutes=60, policy_share=0.25, tasks=tasks, seed=3)
    policy, stop = seen[1:]
    assert policy.max_minutes == pytest.approx(15) and policy.seed == 3
    assert stop.init == str(tmp_path / "b" / "policy") and stop.seed == 3 and stop.prices
    assert 56 < stop.max_minutes <= 60 - _stoptrain.STOP_MARGIN_MINUTES  # what the first left
    for share in (0, 1, 1.5):
        with pytest.raises(ValueError, match="policy_share must lie in"):
            train_with_stop(tmp_path / "c", policy_share=share, tasks=tasks)


def test_with_stop_is_a_v2_option_alone() -> None:
    runner = CliRunner()
    for flags in (["--with-stop"], ["--v2", "--with-stop", "--ablations"],
                  ["--v2", "--with-stop", "--learn-stop"], ["--v2", "--with-stop", "--no-warm"]):  # fmt: skip
        result = runner.invoke(app, ["train-agent", *flags, "--quick"])
        assert result.exit_code != 0 and "use it with --v2 alone" in result.output, flags
