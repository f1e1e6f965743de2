"""Random and grid search, and the two warm-started random searches."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from tests.baselines.conftest import CANDIDATE_SEEDS, CANDIDATES, candidate_env
from tests.envs.conftest import TINY_SPACE, EnvFactory
from tunegym.baselines import (
    BoxRandomSearch,
    GridSearch,
    RandomSearch,
    WarmStartRandomSearch,
    run_episode,
)
from tunegym.envs import SearchSpace, TuningEnv
from tunegym.metastore import WarmStart

# No diverging learning rate: every trial trains the epochs it asks for.
STABLE = SearchSpace(lrs=(1e-3, 1e-2, 1e-1), batch_sizes=(16, 64), max_epochs=4)


def epochs_per_trial(log: list[dict]) -> list[int]:
    epochs: dict[int, int] = {}
    for step in log:
        if step["kind"] in ("new", "continue"):
            epochs[step["trial"]] = epochs.get(step["trial"], 0) + step["epochs"]
    return list(epochs.values())


def configs(log: list[dict]) -> list[tuple[float, int]]:
    return [(s["lr"], s["batch_size"]) for s in log if s["kind"] == "new"]


def test_random_search_funds_a_partial_last_trial(make_env: EnvFactory) -> None:
    env = make_env("replay", space=STABLE, budget_epochs=10)
    result = run_episode(env, RandomSearch(), seed=0)
    assert epochs_per_trial(env.step_log) == [4, 4, 2]
    assert [s["k"] for s in env.step_log] == [4, 4, 2]
    assert result.epochs_used[-1] == 10 and not result.stopped


def test_random_search_continues_a_trial_when_e_max_is_no_increment(
    make_env: EnvFactory,
) -> None:
    space = dataclasses.replace(STABLE, k_choices=(1, 2))
    env = make_env("replay", space=space, budget_epochs=8)
    run_episode(env, RandomSearch(), seed=0)
    assert [(s["kind"], s["k"]) for s in env.step_log] == [("new", 2), ("continue", 2)] * 2
    assert epochs_per_trial(env.step_log) == [4, 4]


def test_random_search_draws_configurations_with_its_seed(make_env: EnvFactory) -> None:
    env = make_env("replay", budget_epochs=40)
    drawn = []
    for seed in (0, 1, 0):
        run_episode(env, RandomSearch(), seed=seed)
        drawn.append(configs(env.step_log))
    assert drawn[0] == drawn[2] != drawn[1]


def test_grid_search_visits_the_grid_lr_major_once_then_stops(make_env: EnvFactory) -> None:
    env = make_env("replay", budget_epochs=100)
    result = run_episode(env, GridSearch(), seed=0)
    grid = [(lr, bs) for lr in TINY_SPACE.lrs for bs in TINY_SPACE.batch_sizes]
    assert configs(env.step_log) == grid
    assert result.stopped and result.epochs_used[-1] < 100


def test_shuffled_grid_search_is_a_seeded_permutation(make_env: EnvFactory) -> None:
    env = make_env("replay", budget_epochs=100)
    orders = []
    for seed in (0, 1, 0):
        run_episode(env, GridSearch(shuffle=True), seed=seed)
        orders.append(configs(env.step_log))
    grid = [(lr, bs) for lr in TINY_SPACE.lrs for bs in TINY_SPACE.batch_sizes]
    assert sorted(orders[0]) == sorted(grid)
    assert orders[0] == orders[2] != orders[1]


def test_warm_started_random_tries_the_portfolio_first(
    make_env: EnvFactory, warm: WarmStart
) -> None:
    env = make_env("replay", budget_epochs=40)
    portfolio = [(e.lr, e.batch_size) for e in warm.portfolio]
    assert len(portfolio) >= 2
    for seed in range(3):
        run_episode(env, WarmStartRandomSearch(warm), seed=seed)
        assert env.step_log[0]["k"] == TINY_SPACE.max_epochs
        assert configs(env.step_log)[: len(portfolio)] == portfolio


def test_portfolio_off_the_grid_is_refused(make_env: EnvFactory, warm: WarmStart) -> None:
    entry = dataclasses.replace(warm.portfolio[0], lr=0.5)
    off_grid = dataclasses.replace(warm, portfolio=(entry,))
    with pytest.raises(ValueError, match=r"Portfolio entry 0 \(lr=0.5.*not on the env's grid"):
        run_episode(make_env("replay"), WarmStartRandomSearch(off_grid), seed=0)


def test_box_random_stays_in_the_box(make_env: EnvFactory, warm: WarmStart) -> None:
    box = warm.box
    assert box is not None
    env = make_env("replay", budget_epochs=60)
    seen = set()
    for seed in range(3):
        run_episode(env, BoxRandomSearch(warm), seed=seed)
        seen |= set(configs(env.step_log))
    assert all(box.contains(lr, bs) for lr, bs in seen)
    inside = [
        (lr, bs) for lr in TINY_SPACE.lrs for bs in TINY_SPACE.batch_sizes if box.contains(lr, bs)
    ]
    assert seen == set(inside)  # and samples all of it


def test_box_random_needs_a_box_that_meets_the_grid(make_env: EnvFactory, warm: WarmStart) -> None:
    with pytest.raises(ValueError, match="no search box"):
        BoxRandomSearch(dataclasses.replace(warm, box=None))
    assert warm.box is not None
    outside = dataclasses.replace(warm.box, lr_min=2.0, lr_max=3.0)
    with pytest.raises(ValueError, match="holds no configuration"):
        run_episode(
            make_env("replay"), BoxRandomSearch(dataclasses.replace(warm, box=outside)), seed=0
        )


# -- candidates of a space ---------------------------------------------------------------------


def trained(env: TuningEnv) -> list[int]:
    return [t["config"] for t in env.trials]


def test_random_search_draws_candidate_indices_off_the_grid(
    lcbench_curves: pd.DataFrame,
) -> None:
    env = candidate_env(lcbench_curves, budget_epochs=40)
    seen: set[int] = set()
    for seed in range(4):
        run_episode(env, RandomSearch(), seed=seed)
        # Drawn uniformly with replacement; a candidate that has had both trial seeds is drawn
        # again (the env masks it).
        rng, expected = np.random.default_rng(seed), []
        while len(expected) < len(env.trials):
            config = int(rng.choice(np.arange(CANDIDATES.n_configs)))
            if expected.count(config) < len(CANDIDATE_SEEDS):
                expected.append(config)
        assert trained(env) == expected
        seen |= set(trained(env))
    assert len(seen) > CANDIDATES.n_configs // 2


def test_grid_search_visits_every_candidate_once_then_stops(lcbench_curves: pd.DataFrame) -> None:
    env = candidate_env(lcbench_curves, budget_epochs=100)
    result = run_episode(env, GridSearch(), seed=0)
    assert trained(env) == list(range(CANDIDATES.n_configs))
    assert result.stopped
    shuffled = run_episode(env, GridSearch(shuffle=True), seed=1)
    assert sorted(trained(env)) == list(range(CANDIDATES.n_configs)) != trained(env)
    assert shuffled.stopped


def test_warm_started_random_tries_the_portfolios_candidates_first(
    lcbench_curves: pd.DataFrame, candidate_warm: WarmStart
) -> None:
    env = candidate_env(lcbench_curves, budget_epochs=40)
    for seed in range(3):
        run_episode(env, WarmStartRandomSearch(candidate_warm), seed=seed)
        assert trained(env)[:2] == [7, 2]  # the entry that is no candidate is skipped
        assert env.step_log[0]["k"] == CANDIDATES.max_epochs


def test_a_grid_portfolio_cannot_warm_start_lcbenchs_candidates(
    lcbench_curves: pd.DataFrame, warm: WarmStart
) -> None:
    env = candidate_env(lcbench_curves)
    with pytest.raises(ValueError, match=r"cannot apply to this search.*give no configuration"):
        run_episode(env, WarmStartRandomSearch(warm), seed=0)


def test_box_random_stays_in_the_box_off_the_grid(
    lcbench_curves: pd.DataFrame, candidate_warm: WarmStart
) -> None:
    box = candidate_warm.box
    assert box is not None
    inside = {
        i
        for i, c in enumerate(CANDIDATES.candidates)
        if box.contains(c["learning_rate"], c["batch_size"])
    }
    assert {2, 7, 9} <= inside and len(inside) < CANDIDATES.n_configs
    env = candidate_env(lcbench_curves, budget_epochs=60)
    seen: set[int] = set()
    for seed in range(4):
        run_episode(env, BoxRandomSearch(candidate_warm), seed=seed)
        seen |= set(trained(env))
    assert seen == inside


def test_box_random_refuses_a_box_without_candidates(
    lcbench_curves: pd.DataFrame, candidate_warm: WarmStart
) -> None:
    assert candidate_warm.box is not None
    outside = dataclasses.replace(candidate_warm.box, lr_min=2.0, lr_max=3.0)
    policy = BoxRandomSearch(dataclasses.replace(candidate_warm, box=outside))
    with pytest.raises(ValueError, match="holds no configuration of the env's 12 candidates"):
        run_episode(candidate_env(lcbench_curves), policy, seed=0)
