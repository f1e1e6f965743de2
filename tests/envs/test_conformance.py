"""Gymnasium and Stable-Baselines3 conformance: checkers, registry, vector envs, a maskable agent."""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from sb3_contrib import MaskablePPO
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

import tunegym  # noqa: F401  (registers the env id)
from tests.envs.conftest import BACKENDS, TINY_SEEDS, TINY_SPACE, EnvFactory
from tunegym.data import TabularDataset
from tunegym.envs import ENV_ID, TuningEnv


@pytest.fixture
def steady_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make measured epoch seconds deterministic.

    The checkers step twice from the same seed and demand identical ``info``; live wall-clock
    seconds are the one input that legitimately differs between two identical runs.
    """
    ticks = iter(range(10**9))
    # 1/1024 s per tick: a power of two, so differences of ticks are exact in float whatever
    # the count reached (with 1e-3, (n + 2) * 1e-3 - n * 1e-3 depends on n in its last bit).
    monkeypatch.setattr(time, "perf_counter", lambda: next(ticks) / 1024)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gymnasium_env_checker(make_env: EnvFactory, backend: str, steady_clock: None) -> None:
    gym_check_env(make_env(backend), skip_render_check=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sb3_env_checker(make_env: EnvFactory, backend: str, steady_clock: None) -> None:
    sb3_check_env(make_env(backend), warn=True)


def _kwargs(iris_curves: pd.DataFrame) -> dict:
    return {
        "dataset": "sklearn:iris",
        "backend": "replay",
        "curves": iris_curves,
        "space": TINY_SPACE,
        "budget_epochs": 12,
        "n_slots": 3,
        "trial_seeds": TINY_SEEDS,
    }


def test_registered_id_with_gymnasium_make(iris_curves: pd.DataFrame) -> None:
    env = gym.make(ENV_ID, **_kwargs(iris_curves))
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert isinstance(env.unwrapped, TuningEnv)
    live = gym.make(
        ENV_ID, dataset="sklearn:iris", backend="live", space=TINY_SPACE, budget_epochs=4
    )
    live.reset(seed=0)
    _, _, _, _, info = live.step(live.unwrapped.codec.new(1, 0, 1))
    assert info["epochs_used"] == 1


def test_unknown_backend_is_a_clear_error(iris: TabularDataset) -> None:
    with pytest.raises(ValueError, match="Did you mean 'replay'"):
        gym.make(ENV_ID, dataset=iris, backend="replya")
    with pytest.raises(ValueError, match="needs curves="):
        gym.make(ENV_ID, dataset=iris, backend="replay")


def _rollout(vec, n_steps: int, seed: int) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    vec.seed(seed)
    obs = vec.reset()
    seen = [obs]
    for _ in range(n_steps):
        masks = np.stack(vec.env_method("action_masks"))
        actions = np.array([rng.choice(np.flatnonzero(m)) for m in masks])
        obs, _, _, _ = vec.step(actions)
        seen.append(obs)
    return seen


def test_dummy_and_subproc_vec_envs_agree(iris_curves: pd.DataFrame) -> None:
    kwargs = _kwargs(iris_curves)
    fns = [lambda: gym.make(ENV_ID, **kwargs) for _ in range(2)]
    dummy = DummyVecEnv(fns)
    subproc = SubprocVecEnv(fns, start_method="spawn")
    try:
        a, b = _rollout(dummy, 40, seed=3), _rollout(subproc, 40, seed=3)
    finally:
        subproc.close()
        dummy.close()
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_maskable_ppo_trains_on_the_env(iris_curves: pd.DataFrame) -> None:
    vec = DummyVecEnv([lambda: gym.make(ENV_ID, **_kwargs(iris_curves)).unwrapped])
    model = MaskablePPO(
        "MlpPolicy",
        vec,
        n_steps=64,
        batch_size=32,
        n_epochs=1,
        seed=0,
        policy_kwargs={"net_arch": [16]},
    )
    model.learn(total_timesteps=64)
    env = gym.make(ENV_ID, **_kwargs(iris_curves)).unwrapped
    obs, _ = env.reset(seed=0)
    done = False
    while not done:
        action, _ = model.predict(obs, action_masks=env.action_masks(), deterministic=True)
        assert env.action_masks()[int(action)]
        obs, _, terminated, truncated, _ = env.step(int(action))
        done = terminated or truncated
