"""`run_episode` and the `Policy` protocol, with hand-written policies."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from tests.baselines.conftest import CANDIDATES, candidate_env
from tests.envs.conftest import EnvFactory
from tunegym.baselines import Policy, RandomSearch, run_episode
from tunegym.envs import TuningEnv


class StopAtOnce:
    def reset(self, env: TuningEnv, seed: int) -> None:
        self.stop = env.codec.stop_index

    def act(self, obs: np.ndarray, mask: np.ndarray) -> int:
        return self.stop

    def observe(self, info: dict[str, Any]) -> None:
        pass


class SlowRandom(RandomSearch):
    """Random search that thinks for 5 ms before each action."""

    def act(self, obs: np.ndarray, mask: np.ndarray) -> int:
        time.sleep(0.005)
        return super().act(obs, mask)


def test_a_policy_that_stops_at_once(make_env: EnvFactory) -> None:
    env = make_env("replay")
    result = run_episode(env, StopAtOnce(), seed=0)
    assert isinstance(StopAtOnce(), Policy)
    assert result.n_decisions == 1 and result.stopped and not result.truncated
    assert result.epochs_used.tolist() == [0] and result.n_trials == 0
    assert result.incumbent.lr is None and result.final_regret == 1.0


def test_anytime_curve_follows_the_steps(make_env: EnvFactory) -> None:
    env = make_env("replay", budget_epochs=20)
    result = run_episode(env, RandomSearch(), seed=0)
    log = env.step_log
    assert result.epochs_used.tolist() == [s["epochs_used"] for s in log]
    assert result.seconds_used.tolist() == [s["seconds"] for s in log]
    assert np.all(np.diff(result.incumbent_val) >= 0)
    assert np.all(np.diff(result.regret) <= 0)
    best = max(range(len(log)), key=lambda n: (log[n]["val_score"], -n))
    assert result.incumbent.val_score >= log[best]["val_score"]
    assert result.incumbent.lr is not None and result.incumbent.test_score is not None


def test_decision_time_counts_the_policy_not_the_training(make_env: EnvFactory) -> None:
    env = make_env("live", budget_epochs=8)
    fast = run_episode(env, RandomSearch(), seed=0)
    slow = run_episode(env, SlowRandom(), seed=0)
    assert slow.actions.tolist() == fast.actions.tolist()
    assert slow.decision_seconds >= 0.005 * slow.n_decisions
    assert fast.decision_seconds < 0.005 * fast.n_decisions


def test_the_incumbent_names_its_configuration(
    make_env: EnvFactory, lcbench_curves: pd.DataFrame
) -> None:
    grid = run_episode(make_env("replay", budget_epochs=20), RandomSearch(), seed=0).incumbent
    assert grid.config == {"lr": grid.lr, "batch_size": grid.batch_size}
    env = candidate_env(lcbench_curves)
    incumbent = run_episode(env, RandomSearch(), seed=0).incumbent
    assert incumbent.config in env.task.space.candidates
    assert incumbent.config in [{k: t[k] for k in CANDIDATES.names} for t in env.trials]
    assert (incumbent.lr, incumbent.batch_size) == (None, incumbent.config["batch_size"])
    stopped = run_episode(env, StopAtOnce(), seed=0).incumbent
    assert stopped.config is None
