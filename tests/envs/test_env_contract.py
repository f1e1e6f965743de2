"""One contract, every backend: the env's semantics hold for live and replay alike."""

from __future__ import annotations

import numpy as np
import pytest

from tests.envs.conftest import BACKENDS, EnvFactory
from tunegym.envs import ActionKind, TuningEnv


def random_masked_episode(env: TuningEnv, seed: int, policy_seed: int = 0) -> list[tuple]:
    """Run one episode with a random masked policy; return (obs, reward, term, trunc, info)."""
    rng = np.random.default_rng(policy_seed)
    obs, info = env.reset(seed=seed)
    out = [(obs, 0.0, False, False, info)]
    done = False
    while not done:
        action = int(rng.choice(np.flatnonzero(env.action_masks())))
        obs, reward, terminated, truncated, info = env.step(action)
        out.append((obs, reward, terminated, truncated, info))
        done = terminated or truncated
    return out


@pytest.mark.parametrize("backend", BACKENDS)
class TestEnvContract:
    def test_every_observation_lies_in_the_declared_space(
        self, make_env: EnvFactory, backend: str
    ) -> None:
        env = make_env(backend)
        for seed in range(5):
            for obs, *_ in random_masked_episode(env, seed, policy_seed=seed):
                assert obs.dtype == np.float32
                assert env.observation_space.contains(obs), obs

    def test_budget_is_respected_and_spent(self, make_env: EnvFactory, backend: str) -> None:
        env = make_env(backend)
        for seed in range(5):
            steps = random_masked_episode(env, seed, policy_seed=seed)
            info = steps[-1][4]
            assert info["epochs_used"] <= env.task.budget_epochs
            stopped = info["step_log"][-1]["kind"] == "stop"
            assert stopped or info["epochs_used"] == env.task.budget_epochs
            assert sum(s["epochs"] for s in info["step_log"] if s["valid"]) == info["epochs_used"]

    def test_reward_is_zero_at_reset_and_sums_to_the_regret_reduction(
        self, make_env: EnvFactory, backend: str
    ) -> None:
        env = make_env(backend)
        for seed in range(5):
            steps = random_masked_episode(env, seed, policy_seed=seed)
            rewards = [r for _, r, *_ in steps[1:]]
            assert all(r >= 0 for r in rewards)
            assert sum(rewards) == pytest.approx(1.0 - env.regret, abs=1e-6)
            incumbents = [s["incumbent_val"] for s in steps[-1][4]["step_log"]]
            assert incumbents == sorted(incumbents)

    def test_reward_sign_follows_the_incumbent(self, make_env: EnvFactory, backend: str) -> None:
        env = make_env(backend)
        env.reset(seed=0)
        good = env.codec.new(env.task.space.lr_index(1e-2), 0, 4)
        _, reward, *_ = env.step(good)
        assert reward > 0
        diverging = env.codec.new(env.task.space.lr_index(1e20), 0, 1)
        _, reward, *_ = env.step(diverging)
        assert reward == 0.0

    def test_diverging_trial_is_flagged_and_the_episode_goes_on(
        self, make_env: EnvFactory, backend: str
    ) -> None:
        env = make_env(backend)
        env.reset(seed=0)
        obs, _, terminated, truncated, info = env.step(
            env.codec.new(env.task.space.lr_index(1e20), 1, 4)
        )
        assert not terminated
        assert not truncated
        step = info["step"]
        assert step["diverged"]
        assert step["epochs"] == 1
        assert info["epochs_used"] == 1
        assert obs[5 + 7] == 1.0  # slot 0's diverged flag
        assert not env.action_masks()[env.codec.cont(0, 1)]  # a diverged trial cannot continue
        _, _, terminated, _, info = env.step(env.codec.new(0, 0, 2))
        assert not terminated
        assert info["epochs_used"] == 3

    def test_invalid_actions_cost_nothing_and_never_crash(
        self, make_env: EnvFactory, backend: str
    ) -> None:
        env = make_env(backend, invalid_action_penalty=0.5)
        obs0, _ = env.reset(seed=0)
        masked = env.codec.cont(0, 1)  # slot 0 is empty
        assert not env.action_masks()[masked]
        for action in (masked, -1, env.codec.n, 3.5, "x", np.array([1, 2])):
            obs, reward, terminated, truncated, info = env.step(action)
            assert reward == -0.5
            assert not terminated
            assert not truncated
            assert info["epochs_used"] == 0
            assert info["step"]["valid"] is False
            np.testing.assert_array_equal(obs, obs0)
        _, _, _, _, info = env.step(np.int64(env.codec.new(0, 0, 1)))  # numpy ints are fine
        assert info["step"]["valid"]
        assert info["epochs_used"] == 1

    def test_safety_cap_truncates(self, make_env: EnvFactory, backend: str) -> None:
        env = make_env(backend, max_steps=3)
        env.reset(seed=0)
        results = [env.step(-1) for _ in range(3)]
        assert [r[3] for r in results] == [False, False, True]
        assert not any(r[2] for r in results)
        assert len(results[-1][4]["step_log"]) == 3
        with pytest.raises(RuntimeError, match="reset"):
            env.step(0)

    def test_stop_terminates(self, make_env: EnvFactory, backend: str) -> None:
        env = make_env(backend)
        env.reset(seed=0)
        _, reward, terminated, truncated, info = env.step(env.codec.stop_index)
        assert (reward, terminated, truncated) == (0.0, True, False)
        assert info["step_log"][-1]["kind"] == "stop"
        assert info["regret"] == pytest.approx(1.0)

    def test_masks_cap_k_by_budget_and_e_max(self, make_env: EnvFactory, backend: str) -> None:
        env = make_env(backend, budget_epochs=3)
        env.reset(seed=0)
        mask, codec = env.action_masks(), env.codec
        assert mask[codec.new(0, 0, 2)]
        assert not mask[codec.new(0, 0, 4)]
        env.step(codec.new(1, 0, 2))
        mask = env.action_masks()
        assert mask[codec.cont(0, 1)]
        assert not mask[codec.cont(0, 2)]
        _, _, terminated, _, _ = env.step(codec.cont(0, 1))
        assert terminated  # budget spent

    def test_continue_trains_the_same_trial(self, make_env: EnvFactory, backend: str) -> None:
        env = make_env(backend)
        env.reset(seed=0)
        env.step(env.codec.new(1, 0, 2))
        obs, _, _, _, info = env.step(env.codec.cont(0, 2))
        assert info["step"]["trial"] == 0
        assert info["n_trials"] == 1
        assert obs[5 + 3] == pytest.approx(4 / 4)  # epochs done / E_max
        assert obs[5 + 8] == 1.0  # at E_max
        assert not env.action_masks()[env.codec.cont(0, 1)]

    def test_steps_carry_the_score_of_each_epoch_they_trained(
        self, make_env: EnvFactory, backend: str
    ) -> None:
        # What a per-epoch reading of the anytime curve needs: every epoch's score, in order.
        env = make_env(backend)
        steps = random_masked_episode(env, seed=2)
        log = steps[-1][4]["step_log"]
        running = 0.0
        for entry in log:
            scores = entry.get("epoch_scores", [])
            assert len(scores) == entry.get("epochs", 0)
            if scores:
                assert scores[-1] == pytest.approx(entry["val_score"])
                running = max(running, *scores)
            assert entry["incumbent_val"] == pytest.approx(running)
        assert sum(len(e.get("epoch_scores", [])) for e in log) == steps[-1][4]["epochs_used"]

    def test_full_slots_evict_the_weakest_trial(self, make_env: EnvFactory, backend: str) -> None:
        env = make_env(backend, n_slots=2)
        env.reset(seed=0)
        space = env.task.space
        env.step(env.codec.new(space.lr_index(1e-2), 0, 1))
        env.step(env.codec.new(space.lr_index(1e20), 0, 1))  # diverges: the one to evict
        _, _, _, _, info = env.step(env.codec.new(space.lr_index(1e-1), 0, 1))
        assert info["step"]["slot"] == 1
        assert env.trials[2]["lr"] == pytest.approx(1e-1)

    def test_reset_with_a_seed_is_reproducible(self, make_env: EnvFactory, backend: str) -> None:
        env = make_env(backend)
        first = random_masked_episode(env, seed=7)
        second = random_masked_episode(env, seed=7)
        assert len(first) == len(second)
        for a, b in zip(first, second, strict=True):
            np.testing.assert_array_equal(a[0], b[0])
            assert a[1] == b[1]
        seeds_a = [t["seed"] for t in env.trials]
        random_masked_episode(env, seed=8)
        assert len(env.trials) > 0
        assert seeds_a != [t["seed"] for t in env.trials] or len(seeds_a) < 3

    def test_info_carries_the_incumbent(self, make_env: EnvFactory, backend: str) -> None:
        env = make_env(backend)
        steps = random_masked_episode(env, seed=1)
        info = steps[-1][4]
        incumbent = info["incumbent"]
        assert incumbent["val_score"] == pytest.approx(
            max(s["incumbent_val"] for s in info["step_log"])
        )
        assert 0.0 <= incumbent["test_score"] <= 1.0
        assert incumbent["lr"] in env.task.space.lrs
        assert incumbent["batch_size"] in env.task.space.batch_sizes
        assert 1 <= incumbent["epoch"] <= env.task.space.max_epochs
        assert info["seconds_used"] > 0
        kinds = {s["kind"] for s in info["step_log"]}
        assert kinds <= {k.name.lower() for k in ActionKind}

    def test_prior_features_enter_the_observation(self, make_env: EnvFactory, backend: str) -> None:
        n = make_env(backend).task.space.n_configs
        prior = np.linspace(0, 1, n)
        obs, _ = make_env(backend, prior=prior).reset(seed=0)
        np.testing.assert_allclose(obs[-n:], prior, rtol=1e-6)
        with pytest.raises(ValueError, match="one per grid configuration"):
            make_env(backend, prior=np.ones(n + 1))

    def test_render_ansi(self, make_env: EnvFactory, backend: str) -> None:
        env = make_env(backend, render_mode="ansi")
        env.reset(seed=0)
        env.step(env.codec.new(1, 0, 1))
        text = env.render()
        assert text is not None
        assert "slot 0" in text
        assert "lr=0.01" in text
