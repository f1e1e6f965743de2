"""The multi-task replay env: Gymnasium and SB3 conformance, seeded draws, shared spaces."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from tests.agent.conftest import N_SLOTS, SEEDS, SPACE
from tunegym.agent import MetaDataset, MultiTaskReplayEnv
from tunegym.envs import observation_layout


def make(meta: MetaDataset, **kwargs: object) -> MultiTaskReplayEnv:
    datasets = meta.datasets()
    priors = meta.priors(datasets, datasets, SPACE, k=2)
    options = {"space": SPACE, "n_slots": N_SLOTS, "trial_seeds": SEEDS, "priors": priors}
    return MultiTaskReplayEnv(meta, datasets, **{**options, **kwargs})  # type: ignore[arg-type]


def test_passes_gymnasium_and_sb3_checks(meta: MetaDataset) -> None:
    env = make(meta, budgets=(4, 8))
    gym_check_env(env, skip_render_check=True)
    sb3_check_env(env, warn=False)


def test_draws_datasets_and_budgets_with_its_seed(meta: MetaDataset) -> None:
    env = make(meta, budgets=(4, 8))
    draws = [(i["dataset"], i["budget_epochs"]) for i in (env.reset(seed=s)[1] for s in range(40))]
    again = [(i["dataset"], i["budget_epochs"]) for i in (env.reset(seed=s)[1] for s in range(40))]
    assert draws == again
    assert {d for d, _ in draws} == set(meta.datasets())
    assert {b for _, b in draws} == {4, 8}


def test_every_task_shares_the_spaces_and_carries_its_own_prior(meta: MetaDataset) -> None:
    env = make(meta, budgets=(8,))
    priors = meta.priors(meta.datasets(), meta.datasets(), SPACE, k=2)
    names = observation_layout(env.current.task)
    start = names.index("prior.lr0.bs0")
    for dataset in meta.datasets():
        obs, info = env.reset(seed=0, options={"dataset": dataset})
        assert info["dataset"] == dataset
        assert env.current.observation_space == env.observation_space
        assert env.current.action_space == env.action_space
        np.testing.assert_array_equal(obs[start:], priors[dataset].reshape(-1))
        assert env.action_masks().shape == (env.action_space.n,)


def test_episode_runs_to_the_budget_and_reports_regret(meta: MetaDataset) -> None:
    env = make(meta, budgets=(8,))
    env.reset(seed=3)
    total, done = 0.0, False
    while not done:
        action = int(np.flatnonzero(env.action_masks())[0])  # new trial, lowest lr, k=1
        _, reward, terminated, truncated, info = env.step(action)
        total += reward
        done = terminated or truncated
    assert info["epochs_used"] == 8
    assert total == pytest.approx(1.0 - env.regret)  # rewards sum to the regret reduction


def test_rejects_empty_lists(meta: MetaDataset) -> None:
    with pytest.raises(ValueError, match="at least one dataset"):
        MultiTaskReplayEnv(meta, [], space=SPACE)
    with pytest.raises(ValueError, match="at least one budget"):
        MultiTaskReplayEnv(meta, meta.datasets(), space=SPACE, budgets=())
