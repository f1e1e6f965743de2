"""The transfer agent (issue 16): the freeze-thaw agent taught the meta-dataset of fine-tuning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.agent.test_freeze_thaw_agent import toy_suite
from tunegym.agent._ftagent import (
    TaskSet,
    episode_candidates,
    load_ft_agent,
    run_ft_episode,
    task_env,
)
from tunegym.agent._fttrain import FTTrainConfig, MetaTrainEnv, train_ft_agent
from tunegym.envs import CurvePool, finetune_prior, load_suite
from tunegym.envs._pool import greedy_portfolio, normalised_finals
from tunegym.space import FINE_TUNE


@pytest.fixture(scope="module")
def finetune_tasks() -> TaskSet:
    return TaskSet({"finetune": load_suite("finetune")})


def test_fine_tuning_targets_are_a_suite_with_a_nearest_of_kind_prior(
    finetune_tasks: TaskSet,
) -> None:
    train = finetune_tasks.part("meta-train")
    first = train[0]
    assert first.suite == "finetune" and len(train) > 10
    others = [t.pool for t in train[1:]]
    expected = finetune_prior(others, first.pool.configs)
    np.testing.assert_allclose(first.prior, expected, rtol=1e-6)
    # targets whose sources were trained with other configurations hold other candidates,
    # aligned by kind
    second = next(t.pool for t in finetune_tasks.tasks if t.pool.configs != first.pool.configs)
    kinds = [[c[FINE_TUNE] for c in p.configs] for p in (first.pool, second)]
    assert kinds[0] == kinds[1] and 0 < sum(kinds[0]) < len(kinds[0])


def test_a_pool_holding_a_configuration_twice_gives_it_once(finetune_tasks: TaskSet) -> None:
    task = finetune_tasks.part("meta-val")[0]
    keys = [task.pool.space.key(c) for c in task.pool.configs]
    assert len(set(keys)) < len(keys)  # the snapshot's scratch candidates hold one twice
    env = task_env(task, 50, np.random.default_rng(0), n=256)  # would raise on a repeat
    assert env.n == len(set(keys))
    info = run_ft_episode(load_ft_agent(), env, seed=0)
    assert info["epochs_used"] <= 50


def test_episode_candidates_map_a_repeat_to_its_first_index() -> None:
    same = [0, 1, 2, 1, 4, 5]  # index 3 repeats index 1
    for seed in range(5):
        index = episode_candidates(6, 6, [3, 0], np.random.default_rng(seed), same=same)
        assert list(index[:2]) == [1, 0] and sorted(index.tolist()) == [0, 1, 2, 4, 5]


def test_a_suite_must_align_its_configurations() -> None:
    pools = toy_suite()["toy"]
    short = pools[1]
    pools[1] = CurvePool(short.task, short.family, short.part, short.space, short.configs[:-1],
                         short.val[:-1], short.test[:-1], short.seconds[:-1])  # fmt: skip
    with pytest.raises(ValueError, match="aligned by position"):
        TaskSet({"toy": pools})


def test_train_config_checks_suites_weights_and_selection() -> None:
    config = FTTrainConfig(suites=("own", "finetune"), suite_weights=(1.0, 2.0))
    assert config.budgets_of("finetune") == (50, 100) and config.budgets_of("own") == (200, 1000)
    with pytest.raises(ValueError, match="suites must be among"):
        FTTrainConfig(suites=("imagenet",))
    with pytest.raises(ValueError, match="suite_weights"):
        FTTrainConfig(suites=("own", "finetune"), suite_weights=(1.0,))
    with pytest.raises(ValueError, match="select_on"):
        FTTrainConfig(suites=("own",), select_on=("finetune",))
    with pytest.raises(ValueError, match="select_by"):
        FTTrainConfig(select_by="final")


def test_suite_weights_set_how_often_each_suite_is_drawn() -> None:
    suite = toy_suite()["toy"]
    other = [CurvePool(f"b{p.task}", p.family, p.part, p.space, p.configs, p.val, p.test,
                       p.seconds) for p in suite]  # fmt: skip
    tasks = TaskSet({"own": suite, "finetune": other}).part("meta-train")
    config = FTTrainConfig.quick(suites=("own", "finetune"), budgets=(20,), n=24,
                                 suite_weights=(9.0, 1.0))  # fmt: skip
    env = MetaTrainEnv(tasks, config, seed=0)
    budgets: dict[bool, set[int]] = {True: set(), False: set()}
    drawn = []
    for s in range(100):
        env.reset(seed=s)
        drawn.append(env.env.backend.pool.task.startswith("b"))
        budgets[drawn[-1]].add(env.env.budget)
    assert 2 <= sum(drawn) <= 25  # about 10 of 100
    assert budgets == {False: {20}, True: {50, 100}}  # the finetune suite's own budgets


def test_selection_by_area_plus_final_keeps_the_lowest_sum(tmp_path: Path) -> None:
    tasks = TaskSet(toy_suite(), portfolio_size=3)
    config = FTTrainConfig.quick(out=str(tmp_path / "s"), budgets=(30,), n=12,
                                 select_by="area+final", timesteps=512)  # fmt: skip
    agent, rows = train_ft_agent(config, tasks=tasks)
    best = min(rows, key=lambda r: (r["area"] + r["final"], r["final"]))
    assert agent.spec["selected"]["val_area"] == pytest.approx(best["area"])
    assert agent.spec["selected"]["val_final"] == pytest.approx(best["final"])


def test_training_can_start_from_a_trained_agent(tmp_path: Path) -> None:
    tasks = TaskSet(toy_suite(), portfolio_size=3)
    first = FTTrainConfig.quick(out=str(tmp_path / "a"), budgets=(30,), n=12)
    train_ft_agent(first, tasks=tasks)
    # With a zero step size PPO cannot move: the agent trained from it is the same network.
    again = FTTrainConfig.quick(out=str(tmp_path / "b"), budgets=(30,), n=12, learning_rate=0.0,
                                init=str(tmp_path / "a"), bc_episodes=0)  # fmt: skip
    agent, _ = train_ft_agent(again, tasks=tasks)
    start = load_ft_agent(tmp_path / "a")
    for x, y in zip(start.net.state_dict().values(), agent.net.state_dict().values(), strict=True):
        torch.testing.assert_close(x, y)
    assert agent.spec["init"]["agent"] == str((tmp_path / "a").resolve())
    assert agent.spec["init"]["weights_sha256"] == start.spec["weights_sha256"]
    assert agent.spec["selected"]["by"] == "relative" and agent.spec["selected"]["on"] == ["toy"]
    wider = FTTrainConfig.quick(out=str(tmp_path / "c"), budgets=(30,), n=12, hidden=32,
                                init=str(tmp_path / "a"))  # fmt: skip
    with pytest.raises(ValueError, match="hidden=16"):
        train_ft_agent(wider, tasks=tasks)


def test_the_transfer_recipe_starts_from_the_shipped_agent_and_selects_on_fine_tuning() -> None:
    from tunegym.agent._ftagent import DEFAULT_FT_AGENT_DIR

    config = FTTrainConfig.transfer(out="x")
    assert config.init == str(DEFAULT_FT_AGENT_DIR) and config.bc_episodes == 0
    assert config.select_on == ("finetune",) and config.select_by == "return"
    assert config.select_parts == ("meta-train", "meta-val") and config.worse_weight > 0
    assert config.suites == ("lcbench", "own", "finetune") and config.budgets_of("finetune")
    quick = FTTrainConfig.transfer(out="x", quick=True, seed=3)
    assert quick.timesteps < 1000 and quick.hidden == config.hidden and quick.seed == 3
    assert quick.suites == config.suites  # the quick run keeps the recipe's suites


def test_train_agent_transfer_needs_v2() -> None:
    from typer.testing import CliRunner

    from tunegym.cli import app

    result = CliRunner().invoke(app, ["train-agent", "--transfer", "--quick"])
    assert result.exit_code != 0 and "add --v2" in result.output


def test_final_weight_charges_the_regret_an_episode_ends_on() -> None:
    tasks = TaskSet(toy_suite(), portfolio_size=3).part("meta-train")
    returns = {}
    for weight in (0.0, 2.0):
        config = FTTrainConfig.quick(budgets=(20,), n=12, final_weight=weight)
        env = MetaTrainEnv(tasks, config, seed=0)
        env.reset(seed=5)
        total, done, step = 0.0, False, 0
        while not done:  # the portfolio's first candidate for 4 epochs, twice; then stop
            action = 2 if step < 2 else env.action_space.n - 1  # type: ignore[attr-defined]
            _, reward, terminated, truncated, info = env.step(action)
            total, done, step = total + reward, terminated or truncated, step + 1
        returns[weight] = (total, info["regret"])
    (plain, regret), (charged, same) = returns[0.0], returns[2.0]
    assert regret == same and regret > 0
    assert charged == pytest.approx(plain - 2.0 * regret * config.reward_scale)


def _episode_return(env: MetaTrainEnv, seed: int) -> tuple[float, float]:
    """The portfolio's first candidate for 4 epochs, twice; then stop: the return and regret."""
    env.reset(seed=seed)
    total, done, step = 0.0, False, 0
    while not done:
        action = 2 if step < 2 else env.action_space.n - 1  # type: ignore[attr-defined]
        _, reward, terminated, truncated, info = env.step(action)
        total, done, step = total + reward, terminated or truncated, step + 1
    return total, info["regret"]


def test_a_scratch_only_episode_holds_no_fine_tuning_candidate(finetune_tasks: TaskSet) -> None:
    task = finetune_tasks.part("meta-train")[0]
    fine = [i for i, c in enumerate(task.pool.configs) if c[FINE_TUNE] == 1]
    assert set(fine) & set(task.portfolio)  # the portfolio fine-tunes somewhere
    full = task_env(task, 50, np.random.default_rng(0), n=256)
    scratch = task_env(task, 50, np.random.default_rng(0), n=256, scratch_only=True)
    assert any(c[FINE_TUNE] == 1 for c in full.candidates)
    assert all(c[FINE_TUNE] == 0 for c in scratch.candidates)
    assert scratch.n == full.n - len({task.same[i] for i in fine})
    # the portfolio's scratch members, in order, which are the scratch-only portfolio of the
    # other meta-train targets (nested_portfolio)
    kept = [i for i in task.portfolio if i not in fine]
    assert list(scratch.candidates[: len(kept)]) == [task.pool.configs[i] for i in kept]
    table = normalised_finals([t.pool for t in finetune_tasks.part("meta-train")[1:]])
    cols = np.array([i for i in range(task.pool.n) if i not in fine])
    assert kept == [int(cols[j]) for j in greedy_portfolio(table[:, cols], 8)]


def test_scratch_reference_is_a_scratch_only_run_of_each_fine_tuning_task(
    finetune_tasks: TaskSet,
) -> None:
    from tunegym.agent._fttrain import evaluate_tasks, scratch_reference

    val = finetune_tasks.part("meta-val")[:2]
    agent = load_ft_agent()
    reference = scratch_reference(val, lambda suite: (50,), agent=agent, seeds=2)
    assert set(reference) == {(t.pool.task, 50) for t in val}
    for task in val:
        finals = []
        for s in range(2):
            env = task_env(task, 50, np.random.default_rng([s, 50, len(task.pool.task)]),
                           n=agent.n_candidates, scratch_only=True)  # fmt: skip
            finals.append(run_ft_episode(agent, env, seed=s)["regret"])
        assert reference[(task.pool.task, 50)] == pytest.approx(np.mean(finals))
    # own-suite tasks have no fine-tuning candidate, so no reference
    own = TaskSet(toy_suite(), portfolio_size=3).part("meta-val")
    assert scratch_reference(own, lambda suite: (20,), agent=agent) == {}
    # a reference no run can reach (regret below 0): every episode is worse, by its regret + 1
    impossible = {key: -1.0 for key in reference}
    scores = evaluate_tasks(agent, val, (50,), 2, reference=impossible)
    assert scores["no_worse"] == 0.0 and scores["worse"] == pytest.approx(scores["final"] + 1)
    fair = evaluate_tasks(agent, val, (50,), 2, reference={k: 1.0 for k in reference})
    assert fair["no_worse"] == 1.0 and fair["worse"] == 0.0


def test_worse_weight_charges_only_the_excess_over_scratch() -> None:
    tasks = TaskSet(toy_suite(), portfolio_size=3).part("meta-train")
    config = FTTrainConfig.quick(budgets=(20,), n=12, worse_weight=3.0)
    plain, regret = _episode_return(MetaTrainEnv(tasks, config, seed=0), seed=5)
    env = MetaTrainEnv(tasks, config, seed=0, reference={})
    env.reset(seed=5)
    drawn = env._drawn
    # scratch ended 0.01 below this episode: charged 3 x 0.01; scratch ended above it: nothing
    below = MetaTrainEnv(tasks, config, seed=0, reference={drawn: regret - 0.01})
    above = MetaTrainEnv(tasks, config, seed=0, reference={drawn: regret + 0.01})
    charged, _ = _episode_return(below, seed=5)
    free, _ = _episode_return(above, seed=5)
    assert free == pytest.approx(plain)
    assert charged == pytest.approx(plain - 3.0 * 0.01 * config.reward_scale)


def test_selection_by_return_charges_what_training_does(tmp_path: Path) -> None:
    from tunegym.agent._fttrain import _Selection

    config = FTTrainConfig.quick(select_by="return", final_weight=2.0, worse_weight=5.0)
    selection = _Selection([], config, {}, None)
    key = selection._key({"area": 0.1, "final": 0.05, "worse": 0.01})
    assert key == (pytest.approx(0.1 + 2 * 0.05 + 5 * 0.01), 0.05)
    with pytest.raises(ValueError, match="meta-test stays held out"):
        FTTrainConfig(select_parts=("meta-test",))
    tasks = TaskSet(toy_suite(), portfolio_size=3)
    both = FTTrainConfig.quick(out=str(tmp_path / "s"), budgets=(30,), n=12,
                               select_parts=("meta-train", "meta-val"))  # fmt: skip
    agent, _ = train_ft_agent(both, tasks=tasks)
    assert agent.spec["selected"]["parts"] == ["meta-train", "meta-val"]
    assert set(agent.spec["tasks"]["meta-val"]) == {
        t.pool.task for t in tasks.part("meta-train") + tasks.part("meta-val")
    }


def test_scratch_better_targets_can_be_drawn_more_often(finetune_tasks: TaskSet) -> None:
    from tunegym.agent._fttrain import scratch_better

    train = finetune_tasks.part("meta-train")
    harder = {t.pool.task for t in train if scratch_better(t.pool)}
    assert 0 < len(harder) < len(train) / 2
    for task in train:  # by the definition: the best scratch final above the best fine-tuned
        kinds = np.array([c[FINE_TUNE] for c in task.pool.configs])
        final = task.pool.truth[:, -1]
        assert (task.pool.task in harder) == (final[kinds == 0].max() > final[kinds == 1].max())
    shares = {}
    for weight in (1.0, 6.0):
        config = FTTrainConfig.quick(suites=("finetune",), n=40, scratch_better_weight=weight)
        env = MetaTrainEnv(train, config, seed=0)
        drawn = []
        for s in range(200):
            env.reset(seed=s)
            drawn.append(env._drawn[0] in harder)
        shares[weight] = np.mean(drawn)
    share = len(harder) / len(train)
    assert abs(shares[1.0] - share) < 0.1
    assert abs(shares[6.0] - 6 * share / (6 * share + 1 - share)) < 0.1
    with pytest.raises(ValueError, match="scratch_better_weight"):
        FTTrainConfig(scratch_better_weight=0.0)


def test_train_agent_init_needs_v2_and_an_agent_folder(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tunegym.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["train-agent", "--init", str(tmp_path), "--quick"])
    assert result.exit_code != 0 and "--init trains a freeze-thaw agent: add --v2" in result.output
    result = runner.invoke(app, ["train-agent", "--v2", "--init", str(tmp_path), "--quick"])
    assert result.exit_code != 0 and "no agent.json there" in result.output


def test_train_agent_recipe_options_reach_the_recipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from tunegym.agent import _fttrain, _stoptrain
    from tunegym.cli import app

    seen: list[FTTrainConfig] = []

    def record(config: FTTrainConfig, progress: object = None) -> None:
        seen.append(config)
        raise ValueError("recorded")

    monkeypatch.setattr(_fttrain, "train_ft_agent", record)
    monkeypatch.setattr(_stoptrain, "train_stop", record)
    runner = CliRunner()
    recipe = ["--learning-rate", "3e-5", "--final-weight", "2", "--select-by", "area+final",
              "--eval-seeds", "5"]  # fmt: skip
    for flags in (["--v2"], ["--v2", "--learn-stop"]):
        result = runner.invoke(app, ["train-agent", *flags, *recipe, "--out", str(tmp_path / "a")])
        assert result.exit_code != 0 and "recorded" in result.output
    got = [(c.learning_rate, c.final_weight, c.select_by, c.eval_seeds) for c in seen]
    assert got == [(3e-5, 2.0, "area+final", 5)] * 2
    assert seen[0].bc_learning_rate == FTTrainConfig().bc_learning_rate
    for flag, value, error in [
        ("--learning-rate", "-1", "learning_rate must be >= 0, got -1.0"),
        ("--final-weight", "-1", "final_weight must be >= 0, got -1.0"),
        ("--select-by", "best", "select_by must be one of"),
        ("--eval-seeds", "0", "eval_seeds must be an int >= 1, got 0"),
    ]:
        result = runner.invoke(app, ["train-agent", "--v2", "--quick", flag, value])
        assert result.exit_code != 0 and error in result.output, flag
    result = runner.invoke(app, ["train-agent", "--final-weight", "1"])
    assert result.exit_code != 0 and "--final-weight trains a freeze-thaw agent: add --v2" in (
        result.output
    )


def test_train_agent_ablations_need_v2_alone() -> None:
    from typer.testing import CliRunner

    from tunegym.cli import app

    runner = CliRunner()
    for flags in (["--ablations"], ["--v2", "--ablations", "--no-warm"],
                  ["--v2", "--ablations", "--transfer"]):  # fmt: skip
        result = runner.invoke(app, ["train-agent", *flags, "--quick"])
        assert result.exit_code != 0 and "use it with --v2 alone" in result.output


@pytest.mark.slow
def test_train_agent_ablations_trains_the_agent_and_both_ablations(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tunegym.cli import app

    out = tmp_path / "a"
    result = CliRunner().invoke(app, ["train-agent", "--v2", "--quick", "--ablations",
                                      "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    specs = {d: json.loads((tmp_path / d / "agent.json").read_text())
             for d in ("a", "a-no-meta", "a-no-ws")}  # fmt: skip
    assert [(s["warm"], s["use_meta"]) for s in specs.values()] == [
        (True, True), (True, False), (False, True)
    ]  # fmt: skip
