"""The oracle: the best recorded configuration, trained once."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.envs.conftest import TINY_SPACE, EnvFactory
from tunegym.baselines import Oracle, OracleCriterion, run_episode
from tunegym.data import TabularDataset
from tunegym.envs import ReplayBackend, TuningEnv, make_tuning_env


def one_seed_env(iris: TabularDataset, iris_curves: pd.DataFrame) -> TuningEnv:
    """Replay of trial seed 0 only: the oracle's configuration replays the curve it scored."""
    curves = iris_curves[iris_curves["seed"] == 0]
    return make_tuning_env(
        iris, "replay", curves=curves, space=TINY_SPACE, trial_seeds=(0,), budget_epochs=12
    )


def test_any_epoch_oracle_reaches_regret_zero_in_replay(
    iris: TabularDataset, iris_curves: pd.DataFrame
) -> None:
    env = one_seed_env(iris, iris_curves)
    result = run_episode(env, Oracle(), seed=0)
    assert result.final_regret == 0.0
    assert result.stopped and result.n_trials == 1
    assert result.epochs_used[-1] == TINY_SPACE.max_epochs


def test_final_oracle_trains_the_best_final_configuration(
    iris: TabularDataset, iris_curves: pd.DataFrame
) -> None:
    env = one_seed_env(iris, iris_curves)
    result = run_episode(env, Oracle(criterion=OracleCriterion.FINAL), seed=0)
    curves = iris_curves[iris_curves["seed"] == 0]
    last = curves.sort_values("epoch").groupby(["lr", "batch_size"]).tail(1)
    trained = env.step_log[0]
    assert trained["kind"] == "new" and trained["k"] == TINY_SPACE.max_epochs
    # zero regret with respect to the best final score of the grid
    assert trained["val_score"] == last["val_accuracy"].max()
    assert result.incumbent.val_score >= trained["val_score"]


def test_every_source_gives_the_same_choice(
    make_env: EnvFactory, iris_curves: pd.DataFrame
) -> None:
    env = make_env("replay")
    backend = ReplayBackend(iris_curves)
    choices = set()
    for source in (None, iris_curves, backend):
        for criterion in OracleCriterion:
            oracle = Oracle(source, criterion=criterion)
            oracle.reset(env, 0)
            choices.add((criterion, oracle.choice))
    assert len(choices) == len(OracleCriterion)


def test_oracle_without_curves_is_refused(make_env: EnvFactory, iris_curves: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="needs recorded curves"):
        run_episode(make_env("live"), Oracle(), seed=0)
    other = iris_curves.assign(dataset="sklearn:irsi")
    with pytest.raises(ValueError, match="Did you mean 'sklearn:irsi'"):
        run_episode(make_env("replay"), Oracle(other), seed=0)
    with pytest.raises(TypeError, match="OracleCriterion"):
        Oracle(criterion="final")  # type: ignore[arg-type]
