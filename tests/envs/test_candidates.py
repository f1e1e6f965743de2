"""The env over candidates of any search space: sampled spaces, LCBench's surrogate, live."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from tunegym.envs import (
    ReplayBackend,
    SearchSpace,
    TaskSpec,
    TuningEnv,
    make_tuning_env,
    observation_layout,
    trial_setup,
)
from tunegym.space import LCBENCH_SPACE, Categorical, Float, Space
from tunegym.training import FunnelSpec, MLPSpec

TOY = Space((Float("lr", 1e-3, 1.0, log=True), Categorical("act", ("relu", "tanh"))))


def random_episode(env: TuningEnv, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    done, steps = False, []
    while not done:
        mask = env.action_masks()
        action = int(rng.choice(np.flatnonzero(mask[:-1]))) if mask[:-1].any() else len(mask) - 1
        _, _, terminated, truncated, info = env.step(action)
        steps.append(info["step"])
        done = terminated or truncated
    return steps


def test_sampled_candidates_put_the_portfolio_first_and_round_trip() -> None:
    first = {"lr": 0.01, "act": "tanh"}
    space = SearchSpace.sampled(TOY, 6, seed=1, include=[first], max_epochs=4)
    assert space.n_configs == 6 and not space.is_grid
    assert space.candidates[0] == first
    assert space.index_of(first) == 0
    assert space.unit.shape == (6, 2) and space.unit.dtype == np.float32
    assert SearchSpace.from_json(space.to_json()) == space
    assert SearchSpace.sampled(TOY, 6, seed=1, include=[first], max_epochs=4) == space
    with pytest.raises(ValueError, match="not one of the 6 candidates"):
        space.index_of({"lr": 0.5, "act": "relu"})
    with pytest.raises(ValueError, match="act"):
        SearchSpace.of_configs(TOY, [{"lr": 0.01, "act": "gelu"}])
    with pytest.raises(ValueError, match="needs candidate configs"):
        SearchSpace(space=TOY)


def test_the_grid_is_one_search_among_others() -> None:
    grid = SearchSpace()
    assert grid.is_grid and grid.n_configs == 78
    assert grid.candidates[7] == {"lr": grid.lrs[1], "batch_size": grid.batch_sizes[1]}
    assert grid.index_of({"lr": grid.lrs[1], "batch_size": grid.batch_sizes[1]}) == 7
    np.testing.assert_allclose(grid.unit[[0, -1]], [[0, 0], [1, 1]])
    assert SearchSpace.from_json(grid.to_json()) == grid


def toy_table(space: SearchSpace) -> pd.DataFrame:
    rows = []
    for c in space.candidates:
        for epoch in range(1, space.max_epochs + 1):
            score = 0.5 + 0.4 * (c["act"] == "tanh") * epoch / space.max_epochs - c["lr"] / 10
            rows.append({**c, "epoch": epoch, "val_accuracy": score, "test_accuracy": score})
    return pd.DataFrame(rows)  # no seed, seconds, diverged or dataset column: all optional


def test_replay_of_a_table_of_any_space() -> None:
    space = SearchSpace.sampled(TOY, 8, seed=0, max_epochs=4)
    backend = ReplayBackend(toy_table(space), "toy", space=space, seeds=(0, 1))
    env = TuningEnv(TaskSpec("toy", space=space, budget_epochs=16, n_slots=2), backend)
    check_env(env, skip_render_check=True)
    names = observation_layout(env.task)
    assert "slot0.u.lr" in names and "slot0.u.act" in names and "prior.c7" in names
    steps = random_episode(env, seed=3)
    assert steps == random_episode(env, seed=3)
    started = [s for s in steps if s["kind"] == "new"]
    assert started and all({"lr", "act"} <= set(s) or s["trial"] is not None for s in started)
    assert all(0 <= t["config"] < 8 for t in env.trials)
    assert all(space.candidates[t["config"]]["lr"] == t["lr"] for t in env.trials)
    assert env.step_log[-1]["epochs_used"] <= 16


def test_lcbench_env_replays_the_surrogate() -> None:
    pytest.importorskip("onnxruntime")
    from tunegym.surrogates import LCBench

    try:
        LCBench.open()
    except FileNotFoundError as missing:
        pytest.skip(str(missing))
    env = make_tuning_env("lcbench:adult", "lcbench", budget_epochs=200, trial_seeds=(0, 1))
    assert env.task.space.n_configs == 256 and env.task.space.max_epochs == 52
    check_env(env, skip_render_check=True)
    sb3_check_env(env)
    best, worst = env.backend.score_bounds  # type: ignore[misc]
    assert 0 < worst < best <= 1
    steps = random_episode(env, seed=0)
    assert steps[-1]["epochs_used"] <= 200
    incumbent = env._info()["incumbent"]
    assert incumbent["test_score"] is None  # LCBench predicts no test accuracy
    # one curve per configuration: the trial seed does not matter
    backend = env.backend
    config = env.task.space.candidates[5]
    a = backend.advance(backend.start(config, 0), 52).scores
    b = backend.advance(backend.start(config, 1), 52).scores
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="predicts configurations"):
        make_tuning_env("lcbench:adult", "lcbench", space=SearchSpace())


def test_live_trials_of_lcbench_configurations() -> None:
    config = LCBENCH_SPACE.sample(1, seed=0)[0]
    train, spec = trial_setup(config, max_epochs=3, seed=2)
    assert isinstance(spec, FunnelSpec) and train.optimizer == "sgd" and train.seed == 2
    train, spec = trial_setup({"lr": 0.01, "batch_size": 16}, 3, 0)
    assert isinstance(spec, MLPSpec) and train.optimizer == "adam"
    with pytest.raises(ValueError, match="cannot train a configuration with keys"):
        trial_setup({"lr": 0.01}, 3, 0)
    space = SearchSpace.sampled(LCBENCH_SPACE, 3, seed=0, max_epochs=2, k_choices=(1, 2))
    env = make_tuning_env("sklearn:iris", "live", space=space, budget_epochs=4, n_slots=2)
    steps = random_episode(env, seed=0)
    assert sum(s.get("epochs", 0) for s in steps) == steps[-1]["epochs_used"] <= 4


def test_replay_truth_is_the_seed_mean_curve() -> None:
    space = SearchSpace.sampled(TOY, 3, seed=0, max_epochs=4)
    one = toy_table(space)
    two = pd.concat(
        [one.assign(seed=0), one.assign(seed=1, val_accuracy=one["val_accuracy"] - 0.2)]
    )
    short = (two["seed"] == 1) & (two["epoch"] > 2) & (two["lr"] == space.candidates[0]["lr"])
    kept = two[~short].assign(diverged=False)
    last = (kept["seed"] == 1) & (kept["epoch"] == 2) & (kept["lr"] == space.candidates[0]["lr"])
    kept.loc[last, "diverged"] = True  # a run that diverged at epoch 2
    backend = ReplayBackend(kept, "toy", space=space)
    config = space.candidates[0]
    seed0 = one[one["lr"] == config["lr"]]["val_accuracy"].to_numpy()
    seed1 = seed0[:2] - 0.2
    expected = (seed0 + np.concatenate([seed1, [seed1[-1]] * 2])) / 2  # its last score carried
    np.testing.assert_allclose(backend.truth(config), expected)
    with pytest.raises(KeyError, match="No recorded curve"):
        backend.truth({"lr": 0.5, "act": "relu"})
