"""One contract, every baseline, both backends: budget, valid actions, seeds, termination."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.baselines.conftest import BaselineFactory
from tests.envs.conftest import BACKENDS, EnvFactory
from tunegym.baselines import BASELINE_NAMES, EpisodeResult, Policy, run_episode
from tunegym.envs import TuningEnv

BUDGETS = (7, 20)  # 7: the last full-E_max trial cannot be funded; 20: several brackets


class MaskChecked:
    """Passes a policy through, recording every action that was not in the mask."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.invalid: list[int] = []

    def reset(self, env: TuningEnv, seed: int) -> None:
        self.policy.reset(env, seed)

    def act(self, obs: np.ndarray, mask: np.ndarray) -> int:
        action = self.policy.act(obs, mask)
        if not (0 <= action < len(mask) and mask[action]):
            self.invalid.append(action)
        return action

    def observe(self, info: dict[str, Any]) -> None:
        self.policy.observe(info)


def curve(result: EpisodeResult) -> tuple:
    return (
        result.actions.tolist(),
        result.epochs_used.tolist(),
        result.seconds_used.tolist(),
        result.incumbent_val.tolist(),
        result.regret.tolist(),
        result.incumbent,
        result.n_trials,
        result.stopped,
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", BASELINE_NAMES)
class TestBaselineContract:
    def test_budget_is_respected_and_spent_unless_the_policy_stops(
        self, make_env: EnvFactory, baseline: BaselineFactory, name: str, backend: str
    ) -> None:
        for budget in BUDGETS:
            env = make_env(backend, budget_epochs=budget)
            result = run_episode(env, baseline(name), seed=1)
            assert np.all(np.diff(result.epochs_used) >= 0)
            assert result.epochs_used[-1] <= budget
            assert result.stopped or result.epochs_used[-1] == budget
            charged = sum(s["epochs"] for s in env.step_log if s["valid"])
            assert charged == result.epochs_used[-1]

    def test_only_valid_actions_are_taken(
        self, make_env: EnvFactory, baseline: BaselineFactory, name: str, backend: str
    ) -> None:
        for budget in BUDGETS:
            env = make_env(backend, budget_epochs=budget)
            for seed in range(2):
                checked = MaskChecked(baseline(name))
                run_episode(env, checked, seed=seed)
                assert checked.invalid == []
                assert all(step["valid"] for step in env.step_log)

    def test_same_seed_same_episode(
        self, make_env: EnvFactory, baseline: BaselineFactory, name: str, backend: str
    ) -> None:
        env = make_env(backend, budget_epochs=20)
        policy = baseline(name)  # one instance: reset must clear everything
        first = run_episode(env, policy, seed=3)
        run_episode(env, policy, seed=4)
        again = run_episode(env, policy, seed=3)
        if backend == "replay":
            assert curve(again) == curve(first)
        else:  # live seconds differ; the decisions must not
            assert again.actions.tolist() == first.actions.tolist()

    def test_episode_terminates_and_its_curve_matches_the_env(
        self, make_env: EnvFactory, baseline: BaselineFactory, name: str, backend: str
    ) -> None:
        env = make_env(backend, budget_epochs=20)
        result = run_episode(env, baseline(name), seed=0)
        assert not result.truncated
        log = env.step_log
        assert result.n_decisions == len(log) < env.task.step_cap
        assert result.actions.tolist() == [s["action"] for s in log]
        assert result.incumbent_val.tolist() == [s["incumbent_val"] for s in log]
        assert result.final_regret == env.regret
        assert result.incumbent.val_score == result.incumbent_val[-1]
        assert result.n_trials == len(env.trials)
        assert result.decision_seconds > 0
