"""One contract, every baseline, every setting: budget, valid actions, candidates, seeds,
termination — on the lr x batch-size grid (live and replayed) and on candidates of LCBench's
space (replayed)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.baselines.conftest import SETTINGS, BaselineFactory, SettingEnvFactory
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


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("name", BASELINE_NAMES)
class TestBaselineContract:
    def test_budget_is_respected_and_spent_unless_the_policy_stops(
        self, setting_env: SettingEnvFactory, baseline: BaselineFactory, name: str, setting: str
    ) -> None:
        for budget in BUDGETS:
            env = setting_env(setting, budget_epochs=budget)
            result = run_episode(env, baseline(name, setting), seed=1)
            assert np.all(np.diff(result.epochs_used) >= 0)
            assert result.epochs_used[-1] <= budget
            assert result.stopped or result.epochs_used[-1] == budget
            charged = sum(s["epochs"] for s in env.step_log if s["valid"])
            assert charged == result.epochs_used[-1]

    def test_only_valid_actions_are_taken(
        self, setting_env: SettingEnvFactory, baseline: BaselineFactory, name: str, setting: str
    ) -> None:
        for budget in BUDGETS:
            env = setting_env(setting, budget_epochs=budget)
            for seed in range(2):
                checked = MaskChecked(baseline(name, setting))
                run_episode(env, checked, seed=seed)
                assert checked.invalid == []
                assert all(step["valid"] for step in env.step_log)

    def test_every_trial_trains_a_candidate(
        self, setting_env: SettingEnvFactory, baseline: BaselineFactory, name: str, setting: str
    ) -> None:
        env = setting_env(setting, budget_epochs=20)
        search = env.task.space
        for seed in range(2):
            run_episode(env, baseline(name, setting), seed=seed)
            assert env.trials
            for trial in env.trials:
                config = {key: trial[key] for key in search.names}
                assert search.index_of(config) == trial["config"]
                assert search.candidates[trial["config"]] == config
                assert trial["seed"] in env.task.trial_seeds

    def test_same_seed_same_episode(
        self, setting_env: SettingEnvFactory, baseline: BaselineFactory, name: str, setting: str
    ) -> None:
        env = setting_env(setting, budget_epochs=20)
        policy = baseline(name, setting)  # one instance: reset must clear everything
        first = run_episode(env, policy, seed=3)
        run_episode(env, policy, seed=4)
        again = run_episode(env, policy, seed=3)
        if setting != "live":
            assert curve(again) == curve(first)
        else:  # live seconds differ; the decisions must not
            assert again.actions.tolist() == first.actions.tolist()

    def test_episode_terminates_and_its_curve_matches_the_env(
        self, setting_env: SettingEnvFactory, baseline: BaselineFactory, name: str, setting: str
    ) -> None:
        env = setting_env(setting, budget_epochs=20)
        result = run_episode(env, baseline(name, setting), seed=0)
        assert not result.truncated
        log = env.step_log
        assert result.n_decisions == len(log) < env.task.step_cap
        assert result.actions.tolist() == [s["action"] for s in log]
        assert result.incumbent_val.tolist() == [s["incumbent_val"] for s in log]
        assert result.final_regret == env.regret
        assert result.incumbent.val_score == result.incumbent_val[-1]
        assert result.n_trials == len(env.trials)
        assert result.decision_seconds > 0

    def test_no_configuration_and_seed_is_trained_twice(
        self, setting_env: SettingEnvFactory, baseline: BaselineFactory, name: str, setting: str
    ) -> None:
        # One trial seed and a budget of several times the candidates' E_max: repeats would come.
        env = setting_env(setting, budget_epochs=48, trial_seeds=(0,))
        for seed in range(2):
            checked = MaskChecked(baseline(name, setting))
            result = run_episode(env, checked, seed=seed)
            keys = [(t["config"], t["seed"]) for t in env.trials]
            assert len(keys) == len(set(keys))
            assert checked.invalid == [] and not result.truncated
