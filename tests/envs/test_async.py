"""Asynchronous freeze-thaw episodes (issue 17): dispatch/complete, pending rows, the runner."""

from __future__ import annotations

import numpy as np
import pytest

from tests.bench._toy import EPOCHS, SPACE, make_pool
from tunegym.envs import (
    GLOBAL_FIELDS,
    ROW_FIELDS,
    AsyncRunner,
    FreezeThawEnv,
    InlineLauncher,
    PoolBackend,
    SimulatedLauncher,
)

POOL = make_pool(n=12, seeds=2)
_R, _G = len(ROW_FIELDS), len(GLOBAL_FIELDS)


def make_env(budget: int = 40) -> FreezeThawEnv:
    return FreezeThawEnv(
        SPACE, POOL.configs[:8], PoolBackend(POOL), budget=budget, max_epochs=EPOCHS,
        trial_seeds=(0, 1),
    )  # fmt: skip


class RandomPolicy:
    """A seeded choice among the valid advances (never stop); reproducible across runs."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, obs: np.ndarray, mask: np.ndarray) -> int:
        advances = np.flatnonzero(mask[:-1])
        return int(self.rng.choice(advances)) if advances.size else mask.size - 1


def pending_column(obs: np.ndarray, env: FreezeThawEnv) -> np.ndarray:
    return obs[_G:].reshape(env.rows, _R)[:, ROW_FIELDS.index("pending")]


def test_one_worker_is_the_synchronous_episode() -> None:
    sync_env, policy = make_env(), RandomPolicy(3)
    obs, _ = sync_env.reset(seed=5)
    rewards, done = [], False
    while not done:
        obs, reward, terminated, truncated, _ = sync_env.step(policy(obs, sync_env.action_masks()))
        rewards.append(reward)
        done = terminated or truncated
    env = make_env()
    runner = AsyncRunner(env, RandomPolicy(3), InlineLauncher(env.backend), workers=1)
    out = runner.run(seed=5)
    assert [s.reward for s in runner.steps] == pytest.approx(rewards)
    assert env.step_log == sync_env.step_log
    assert out["return"] == pytest.approx(sum(rewards))
    assert all(s.pending == 0 for s in runner.steps)


def test_dispatch_shows_pending_rows_reserves_budget_and_masks_them() -> None:
    env = make_env(budget=10)
    env.reset(seed=0)
    nk = len(env.k_choices)
    i, k = env.dispatch(2 * nk + env.k_choices.index(8))
    assert (i, k) == (2, 8) and env.pending == {2: 8}
    obs, mask = env.observation, env.action_masks()
    assert pending_column(obs, env)[2] == 1.0 and pending_column(obs, env).sum() == 1.0
    assert obs[GLOBAL_FIELDS.index("reserved")] == pytest.approx(0.8)
    assert not mask[2 * nk : 3 * nk].any()  # the pending candidate waits for its result
    assert mask[0] and mask[1] and not mask[2]  # 2 epochs of budget are left to promise
    with pytest.raises(ValueError, match="masked"):
        env.dispatch(2 * nk)
    with pytest.raises(RuntimeError, match="pending"):
        env.step(env.stop_action)
    with pytest.raises(KeyError):
        env.complete(3, env.backend.advance(0, 1))
    obs, reward, terminated, *_ = env.complete(2, env.backend.advance(env.handle(2), 8))
    assert env.pending == {} and pending_column(obs, env).sum() == 0.0
    assert obs[GLOBAL_FIELDS.index("reserved")] == 0.0
    assert reward < 0 and not terminated and env.epochs_done[2] == 8


def test_two_workers_spend_the_budget_and_never_double_book_a_candidate() -> None:
    env = make_env(budget=60)
    seen_pending: list[int] = []

    def policy(obs: np.ndarray, mask: np.ndarray) -> int:
        pending = pending_column(obs, env)
        # a pending candidate never has a valid action
        nk = len(env.k_choices)
        assert not any(mask[i * nk : (i + 1) * nk].any() for i in np.flatnonzero(pending))
        seen_pending.append(int(pending.sum()))
        return RandomPolicy(len(seen_pending))(obs, mask)

    launcher = SimulatedLauncher(env.backend, workers=2)
    clocks: list[float] = []
    wait = launcher.wait

    def timed_wait() -> list:
        done = wait()
        clocks.append(launcher.clock)
        return done

    launcher.wait = timed_wait  # type: ignore[method-assign]
    runner = AsyncRunner(env, policy, launcher, workers=2)
    info = runner.run(seed=1)
    assert info["epochs_used"] == 60
    assert max(seen_pending) == 1  # the second decision of a pair sees the first one out
    assert max(s.pending for s in runner.steps) == 1
    assert env.epochs_done.sum() == 60 and env.pending == {}
    # results come in clock order, and two workers finish before one would have
    assert clocks == sorted(clocks) and len(clocks) > 1
    assert clocks[-1] < info["seconds_used"]  # the training seconds, summed over workers
    assert len({e["candidate"] for e in env.step_log if e["kind"] == "new"}) == sum(
        e["kind"] == "new" for e in env.step_log
    )


def test_the_simulated_clock_brings_short_advances_in_first() -> None:
    env = make_env(budget=60)
    env.reset(seed=0)
    launcher = SimulatedLauncher(env.backend, workers=2)
    nk = len(env.k_choices)
    a, k_a = env.dispatch(0 * nk + env.k_choices.index(8))
    b, k_b = env.dispatch(1 * nk + env.k_choices.index(1))
    launcher.submit(env.handle(a), k_a)
    launcher.submit(env.handle(b), k_b)
    with pytest.raises(RuntimeError, match="busy"):
        launcher.submit(env.handle(a), 1)
    (first, segment), *rest = launcher.wait()
    assert first == env.handle(b) and len(segment.scores) == 1 and not rest
    (second, _), *_ = launcher.wait()
    assert second == env.handle(a)


def test_a_masked_choice_is_an_error_and_cancels_what_is_out() -> None:
    env = make_env()
    cancelled = []

    class Recording(InlineLauncher):
        def cancel(self) -> None:
            cancelled.append(True)
            super().cancel()

    runner = AsyncRunner(env, lambda obs, mask: int(np.flatnonzero(~mask)[0]), Recording(
        env.backend), workers=2)  # fmt: skip
    with pytest.raises(ValueError, match="masked"):
        runner.run(seed=0)
    assert cancelled
