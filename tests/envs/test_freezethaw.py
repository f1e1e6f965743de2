"""The freeze-thaw env (issue 15): actions, masks, reward as regret area, truth, live = replay."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from tests.bench._toy import EPOCHS, SPACE, make_pool
from tests.envs.conftest import TINY_SEEDS, TINY_SPACE
from tunegym.data import TabularDataset
from tunegym.envs import (
    GLOBAL_FIELDS,
    ROW_FIELDS,
    FreezeThawEnv,
    LiveBackend,
    PoolBackend,
    ReplayBackend,
    config_prior,
    freeze_thaw_layout,
    priced_stop,
)
from tunegym.space import Space

POOL = make_pool(n=12, seeds=2)


def make_env(**changes: object) -> FreezeThawEnv:
    kwargs: dict = {"budget": 40, "max_epochs": EPOCHS, "trial_seeds": (0, 1)}
    kwargs.update(changes)
    return FreezeThawEnv(SPACE, POOL.configs[:8], PoolBackend(POOL), **kwargs)


def advance(env: FreezeThawEnv, candidate: int, k: int) -> tuple:
    return env.step(candidate * len(env.k_choices) + env.k_choices.index(k))


def test_passes_gymnasium_and_sb3_checkers() -> None:
    env = make_env()
    check_env(env, skip_render_check=True)
    sb3_check_env(make_env())
    assert env.observation_space.shape == (len(freeze_thaw_layout(8)),)
    assert len(freeze_thaw_layout(8)) == len(GLOBAL_FIELDS) + 8 * len(ROW_FIELDS)


def test_advance_starts_then_continues_and_never_restarts() -> None:
    env = make_env()
    env.reset(seed=0)
    *_, info = advance(env, 3, 2)
    assert info["step"]["kind"] == "new" and info["step"]["epochs"] == 2
    *_, info = advance(env, 3, 4)
    assert info["step"]["kind"] == "continue" and info["step"]["epoch_to"] == 6
    assert env.epochs_done[3] == 6 and info["started"] == 1
    # k beyond the epochs left to E_max is masked; a trial at E_max has no action left
    mask = env.action_masks().reshape(-1)[: 8 * len(env.k_choices)].reshape(8, -1)
    assert mask[3].tolist() == [k <= EPOCHS - 6 for k in env.k_choices]
    advance(env, 3, 2)
    advance(env, 3, 1)
    assert not env.action_masks()[3 * len(env.k_choices) : 4 * len(env.k_choices)].any()
    seeds = {(e["candidate"], e["seed"]) for e in env.step_log if e["kind"] in ("new", "continue")}
    assert len(seeds) == 1  # one trial, one seed


def test_a_racing_trial_is_shown_against_the_best_finished_curve() -> None:
    env = make_env(budget=40)
    obs, _ = env.reset(seed=0)
    vs = ROW_FIELDS.index("vs_finished")

    def shown(obs: np.ndarray) -> np.ndarray:
        return obs[len(GLOBAL_FIELDS) :].reshape(8, len(ROW_FIELDS))[:, vs]

    obs, *_ = advance(env, 2, 2)
    assert not shown(obs).any()  # no trial has finished: no bar yet
    for k in (4, 2, 1):  # 2 + 4 + 2 + 1 = EPOCHS
        obs, *_ = advance(env, 2, k)
    obs, *_ = advance(env, 5, 2)
    gap = env.curves[5, 1] - env.curves[2, 1]
    assert shown(obs)[5] == pytest.approx(np.clip(gap * 10, -1, 1), abs=1e-6)
    assert shown(obs)[2] == 0.0  # the finished trial itself is not racing
    assert env.observation_space.contains(obs)


def test_reward_is_minus_the_regret_area_on_seed_mean_truth() -> None:
    env = make_env(budget=20)
    env.reset(seed=1)
    rewards = [advance(env, 0, 4)[1], advance(env, 5, 8)[1]]
    # stop: the rest of the budget is charged at the last regret
    _, last, terminated, _, info = env.step(env.stop_action)
    assert terminated and info["step"]["kind"] == "stop"
    curve = env.regret_curve
    assert len(curve) == 12
    expected_area = (curve.sum() + curve[-1] * (20 - 12)) / 20
    assert sum(rewards) + last == pytest.approx(-expected_area)
    # the regret is read on the incumbent's seed-mean curve, not the seed it drew
    inc = info["incumbent"]
    best, worst = POOL.bounds
    truth = POOL.truth[inc["candidate"] if inc["candidate"] == 0 else 5, inc["epoch"] - 1]
    assert info["regret"] == pytest.approx((best - truth) / (best - worst))


def test_price_makes_each_epoch_cost() -> None:
    free, priced = make_env(budget=20), make_env(budget=20, price=0.5)
    free.reset(seed=0)
    priced.reset(seed=0)
    r_free = advance(free, 2, 4)[1]
    r_priced = advance(priced, 2, 4)[1]
    assert r_priced == pytest.approx(r_free - 0.5 * 4 / 20)


def test_the_incumbent_trace_is_the_best_score_seen_after_each_epoch() -> None:
    env = make_env(budget=20)
    env.reset(seed=0)
    advance(env, 0, 4)
    advance(env, 5, 8)
    seen = np.r_[env.curves[0, :4], env.curves[5, :8]]
    np.testing.assert_allclose(env.incumbent_trace, np.maximum.accumulate(seen))
    best, worst = POOL.bounds
    assert env.score_span == pytest.approx(best - worst)


def test_priced_stop_weighs_the_last_windows_gain_against_its_price() -> None:
    for price in (0.0, 1e-6, 0.05, 1.0):
        env = make_env(budget=40, price=price)
        env.reset(seed=0)
        assert not priced_stop(env, 0.2)  # nothing spent yet
        advance(env, 0, 4)
        assert not priced_stop(env, 0.2)  # less than a window (8 epochs) spent
        advance(env, 1, 8)
        trace, w = env.incumbent_trace, 8
        gain = (trace[-1] - trace[-1 - w]) / env.score_span
        assert priced_stop(env, 0.2) == (price > 0 and gain < price * w / 40)
    assert priced_stop(env, 0.2)  # a price of a whole budget: no gain on these curves is worth it
    assert not priced_stop(env)  # the default window (16 epochs) is longer than what was spent


def test_budget_ends_the_episode_and_masks_follow_it() -> None:
    env = make_env(budget=5)
    env.reset(seed=0)
    advance(env, 0, 4)
    mask = env.action_masks()
    assert not mask[: env.stop_action].reshape(8, -1)[:, 1:].any()  # only k=1 fits
    *_, terminated, _, info = advance(env, 1, 1)
    assert terminated and info["epochs_used"] == 5


def test_invalid_action_is_not_executed() -> None:
    env = make_env(invalid_action_penalty=0.25)
    env.reset(seed=0)
    advance(env, 0, 8)
    _, reward, terminated, _, info = advance(env, 0, 2)  # 8 + 2 > E_max
    assert reward == -0.25 and not terminated and info["step"]["kind"] == "invalid"
    assert info["epochs_used"] == 8


def test_padding_rows_have_no_actions_and_the_prior_is_shown() -> None:
    prior = config_prior([make_pool(n=12, seeds=1)], POOL.configs[:8], SPACE)
    env = make_env(rows=10, prior=prior)
    obs, _ = env.reset(seed=0)
    rows = obs[len(GLOBAL_FIELDS) :].reshape(10, len(ROW_FIELDS))
    assert rows[:8, 0].all() and not rows[8:].any()
    assert np.allclose(rows[:8, ROW_FIELDS.index("prior")], prior)
    assert rows[:8, ROW_FIELDS.index("prior_rank")].max() == 1.0
    assert not env.action_masks()[8 * len(env.k_choices) : 10 * len(env.k_choices)].any()


def test_bad_arguments_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="repeated"):
        FreezeThawEnv(SPACE, [POOL.configs[0]] * 2, PoolBackend(POOL), budget=5, max_epochs=9)
    with pytest.raises(ValueError, match="prior must hold 8"):
        make_env(prior=np.zeros(3))
    with pytest.raises(ValueError, match="budget_seconds"):
        make_env(cost="seconds")
    with pytest.raises(ValueError, match="rows=4"):
        make_env(rows=4)


def test_seconds_cost_weights_epochs_by_their_seconds() -> None:
    env = make_env(cost="seconds", budget_seconds=20.0)
    env.reset(seed=0)
    _, reward, *_ = advance(env, 1, 2)
    # every epoch of the toy pool takes 1 s
    assert reward == pytest.approx(-env.regret_curve.sum() / 20.0)


def test_live_training_and_its_replay_give_the_same_episode(
    iris: TabularDataset, iris_curves: pd.DataFrame
) -> None:
    """Curves recorded live and replayed give the live env's observations, rewards and masks
    for the same actions and seed, a diverging trial (lr 1e20) included. (Replay also knows
    each configuration's seed-mean truth, which only the reward reads; it is hidden here so
    that both read the regret of the score seen.)"""
    space = Space.from_grid({"lr": TINY_SPACE.lrs, "batch_size": TINY_SPACE.batch_sizes})
    candidates = list(TINY_SPACE.candidates)
    replay = ReplayBackend(iris_curves, space=TINY_SPACE, seeds=TINY_SEEDS)
    kwargs: dict = {"budget": 14, "max_epochs": TINY_SPACE.max_epochs, "trial_seeds": TINY_SEEDS}
    live = LiveBackend(iris, TINY_SPACE, score_bounds=replay.score_bounds)
    envs = [FreezeThawEnv(space, candidates, b, **kwargs) for b in (live, _NoTruth(replay))]
    nk = len(envs[0].k_choices)
    diverging = next(i for i, c in enumerate(candidates) if c["lr"] == 1e20)
    actions = [0 * nk + 1, diverging * nk + 1, 0 * nk + 1, 3 * nk + 2, 5 * nk, 3 * nk]
    a, _ = envs[0].reset(seed=2)
    b, _ = envs[1].reset(seed=2)
    np.testing.assert_allclose(a, b)
    for action in actions:
        np.testing.assert_array_equal(envs[0].action_masks(), envs[1].action_masks())
        a, ra, ta, *_ = envs[0].step(action)
        b, rb, tb, *_ = envs[1].step(action)
        np.testing.assert_allclose(a, b, atol=1e-6)
        assert (ra, ta) == pytest.approx((rb, tb), abs=1e-6)
    assert envs[0].step_log[1]["diverged"] and envs[1].step_log[1]["diverged"]
    for x, y in zip(envs[0].step_log, envs[1].step_log, strict=True):
        assert {k: v for k, v in x.items() if k != "seconds"} == pytest.approx(
            {k: v for k, v in y.items() if k != "seconds"}, abs=1e-6
        )


class _NoTruth:
    """A backend without ``truth``."""

    def __init__(self, backend: ReplayBackend) -> None:
        self._b = backend
        self.meta_features, self.score_bounds = backend.meta_features, backend.score_bounds
        self.start, self.advance, self.release = backend.start, backend.advance, backend.release
