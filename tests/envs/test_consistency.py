"""Live and replay give the same episode: record curves live, replay them, compare step by step."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.envs.conftest import TINY_SEEDS, TINY_SPACE, EnvFactory
from tunegym.data import TabularDataset
from tunegym.envs import make_tuning_env, record_curves


def scripted_actions(env) -> list[int]:  # type: ignore[no-untyped-def]
    """A fixed sequence touching new/continue/diverge/evict/stop."""
    c, space = env.codec, env.task.space
    return [
        c.new(space.lr_index(1e-2), 0, 2),
        c.new(space.lr_index(1e20), 1, 1),
        c.cont(0, 1),
        c.new(space.lr_index(1e-1), 1, 2),
        c.new(space.lr_index(1e-3), 0, 1),  # slots full: evicts the diverged trial
        c.cont(2, 2),
        c.cont(0, 1),
        c.stop_index,
    ]


def run(env, actions: list[int], seed: int) -> list[tuple]:  # type: ignore[no-untyped-def]
    obs, _ = env.reset(seed=seed)
    out = [(obs, 0.0)]
    for action in actions:
        obs, reward, terminated, truncated, _ = env.step(action)
        out.append((obs, reward))
        if terminated or truncated:
            break
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_actions_same_observations_and_rewards(make_env: EnvFactory, seed: int) -> None:
    live, replay = make_env("live"), make_env("replay")
    a = run(live, scripted_actions(live), seed)
    b = run(replay, scripted_actions(replay), seed)
    assert len(a) == len(b) == 9
    for (obs_a, r_a), (obs_b, r_b) in zip(a, b, strict=True):
        np.testing.assert_allclose(obs_a, obs_b, rtol=0, atol=1e-6)
        assert r_a == pytest.approx(r_b, abs=1e-6)
    assert live.step_log[-1]["incumbent_val"] == pytest.approx(replay.step_log[-1]["incumbent_val"])


def test_random_policy_agrees_on_both_backends(make_env: EnvFactory) -> None:
    live, replay = make_env("live"), make_env("replay")
    for seed in range(3):
        rng_a, rng_b = np.random.default_rng(seed), np.random.default_rng(seed)
        obs_a, _ = live.reset(seed=seed)
        obs_b, _ = replay.reset(seed=seed)
        done = False
        while not done:
            np.testing.assert_array_equal(live.action_masks(), replay.action_masks())
            action = int(rng_a.choice(np.flatnonzero(live.action_masks())))
            assert action == int(rng_b.choice(np.flatnonzero(replay.action_masks())))
            obs_a, r_a, term_a, trunc_a, _ = live.step(action)
            obs_b, r_b, term_b, trunc_b, _ = replay.step(action)
            np.testing.assert_allclose(obs_a, obs_b, atol=1e-6)
            assert (r_a, term_a, trunc_a) == pytest.approx((r_b, term_b, trunc_b), abs=1e-6)
            done = term_a or trunc_a


def test_batched_recording_replays_like_live_training(iris: TabularDataset) -> None:
    """Curves from the batched trainer (what collection uses) match live trials too."""
    curves = record_curves(iris, TINY_SPACE, seeds=TINY_SEEDS, batched=True)
    bounds = (float(curves["val_accuracy"].max()), float(curves["val_accuracy"].min()))
    kwargs = {"space": TINY_SPACE, "budget_epochs": 12, "n_slots": 3, "trial_seeds": TINY_SEEDS}
    replay = make_tuning_env(iris, "replay", curves=curves, **kwargs)
    live = make_tuning_env(iris, "live", score_bounds=bounds, **kwargs)
    a, b = run(live, scripted_actions(live), 0), run(replay, scripted_actions(replay), 0)
    for (obs_a, r_a), (obs_b, r_b) in zip(a, b, strict=True):
        np.testing.assert_allclose(obs_a, obs_b, atol=1e-5)
        assert r_a == pytest.approx(r_b, abs=1e-5)
    assert isinstance(curves, pd.DataFrame)
