"""The oracle: the best recorded configuration, trained once."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.baselines.conftest import CANDIDATES, candidate_env
from tests.envs.conftest import TINY_SPACE, EnvFactory
from tunegym.baselines import Oracle, OracleCriterion, run_episode
from tunegym.data import TabularDataset
from tunegym.envs import ReplayBackend, SearchSpace, TuningEnv, make_tuning_env, metric_score
from tunegym.space import LCBENCH_SPACE


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


@pytest.mark.parametrize("metric", ["val_accuracy", "val_loss"])
def test_oracle_off_the_grid_trains_the_best_candidate(
    lcbench_curves: pd.DataFrame, metric: str
) -> None:
    env = candidate_env(lcbench_curves, metric=metric)
    curves = lcbench_curves.assign(score=metric_score(lcbench_curves[metric], metric))
    best = curves.groupby([*CANDIDATES.names, "seed"])["score"].max().groupby(
        list(CANDIDATES.names)
    ).mean()  # fmt: skip
    top = best.idxmax()
    assert isinstance(top, tuple)
    expected = CANDIDATES.index_of(dict(zip(CANDIDATES.names, top, strict=True)))
    for source in (None, lcbench_curves):  # the env's replay backend, or the table
        oracle = Oracle(source)
        result = run_episode(env, oracle, seed=0)
        assert oracle.choice == expected
        assert [t["config"] for t in env.trials] == [expected]
        assert result.stopped and result.epochs_used[-1] == CANDIDATES.max_epochs
    means = [float(best[tuple(c.values())]) for c in CANDIDATES.candidates]
    worse = sorted(range(CANDIDATES.n_configs), key=lambda i: means[i])[:3]  # not the best
    fewer = SearchSpace.of_configs(
        LCBENCH_SPACE, [CANDIDATES.candidates[i] for i in worse], max_epochs=4
    )  # three of the recorded candidates: the oracle picks among them only
    oracle = Oracle(lcbench_curves)
    run_episode(candidate_env(lcbench_curves, space=fewer, metric=metric), oracle, seed=0)
    assert fewer.candidates[oracle.choice] == CANDIDATES.candidates[worse[-1]]
