"""Optuna TPE through ask-and-tell: what it tells the study, and that its pruners prune."""

from __future__ import annotations

import optuna
import pandas as pd
import pytest

from tests.baselines.conftest import CANDIDATE_SEEDS, CANDIDATES, candidate_env
from tests.envs.conftest import EnvFactory
from tunegym.baselines import Pruner, TPESearch, run_episode
from tunegym.baselines._candidates import nearest_candidate
from tunegym.metastore import WarmStart
from tunegym.space import LCBENCH_SPACE


def is_candidate(params: dict) -> bool:
    try:
        CANDIDATES.index_of(params)
    except ValueError:
        return False
    return True


def env_trials(log: list[dict]) -> dict[int, list[dict]]:
    trials: dict[int, list[dict]] = {}
    for step in log:
        if step["kind"] in ("new", "continue"):
            trials.setdefault(step["trial"], []).append(step)
    return trials


def test_tpe_without_pruner_tells_each_full_trial_its_final_score(make_env: EnvFactory) -> None:
    env = make_env("replay", budget_epochs=40)
    policy = TPESearch()
    run_episode(env, policy, seed=0)
    trials = env_trials(env.step_log)
    # A proposal of a configuration that had had every trial seed failed untrained.
    told = [t for t in policy.study.trials if t.state is not optuna.trial.TrialState.FAIL]
    assert len(told) == len(trials)
    space = env.task.space
    for frozen, steps in zip(told, trials.values(), strict=True):
        params = frozen.params
        config = (space.lrs[params["lr_index"]], space.batch_sizes[params["batch_size_index"]])
        assert config == (steps[0]["lr"], steps[0]["batch_size"])
        if frozen is told[-1] and frozen.state is optuna.trial.TrialState.RUNNING:
            assert sum(s["epochs"] for s in steps) < 4  # cut by the budget: never told
            continue
        assert steps[0]["k"] == 4
        assert frozen.state is optuna.trial.TrialState.COMPLETE
        assert frozen.value == steps[-1]["val_score"]
        assert sum(s["epochs"] for s in steps) == 4 or steps[-1]["diverged"]


@pytest.mark.parametrize("pruner", [Pruner.HYPERBAND, Pruner.MEDIAN])
def test_pruners_prune_on_a_task_with_bad_learning_rates(
    make_env: EnvFactory, pruner: Pruner
) -> None:
    env = make_env("replay", budget_epochs=80)
    policy = TPESearch(pruner, n_startup_trials=5)
    run_episode(env, policy, seed=0)
    states = [t.state for t in policy.study.trials]
    pruned = [t for t in policy.study.trials if t.state is optuna.trial.TrialState.PRUNED]
    assert pruned, states
    trials = env_trials(env.step_log)
    assert all(
        s["k"] == 1 for steps in trials.values() for s in steps
    )  # the pruner sees each epoch
    # Env trials in the order of the Optuna trials that trained them (failed ones trained none).
    ran = [t.number for t in policy.study.trials if t.state is not optuna.trial.TrialState.FAIL]
    trial_of = dict(zip(ran, trials, strict=False))
    for frozen in pruned:
        steps = trials[trial_of[frozen.number]]
        assert len(steps) < 4 and not steps[-1]["diverged"]
        assert dict(frozen.intermediate_values) == {
            n + 1: s["val_score"] for n, s in enumerate(steps)
        }


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(TypeError, match="Pruner"):
        TPESearch("median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="eta"):
        TPESearch(Pruner.HYPERBAND, eta=1)


def test_tpe_ws_starts_with_the_warm_start_portfolio(make_env: EnvFactory, warm) -> None:  # type: ignore[no-untyped-def]
    env = make_env("replay", budget_epochs=40)
    policy = TPESearch(warm_start=warm)
    run_episode(env, policy, seed=0)
    space = env.task.space
    tried = [
        (space.lrs[t.params["lr_index"]], space.batch_sizes[t.params["batch_size_index"]])
        for t in policy.study.trials
    ]
    portfolio = [(e.lr, e.batch_size) for e in warm.portfolio]
    assert portfolio
    assert tried[: len(portfolio)] == portfolio
    cold = TPESearch()
    run_episode(env, cold, seed=0)
    assert [t.params for t in cold.study.trials][: len(portfolio)] != [
        t.params for t in policy.study.trials
    ][: len(portfolio)]


# -- candidates of a space ---------------------------------------------------------------------


@pytest.mark.parametrize("pruner", [Pruner.NONE, Pruner.HYPERBAND])
def test_tpe_off_the_grid_tells_the_candidate_it_trained(
    lcbench_curves: pd.DataFrame, pruner: Pruner
) -> None:
    env = candidate_env(lcbench_curves, budget_epochs=60, n_slots=20)
    policy = TPESearch(pruner, n_startup_trials=3)
    run_episode(env, policy, seed=0)
    study = policy.study.trials
    ran = [t for t in study if t.state is not optuna.trial.TrialState.FAIL]
    assert len(ran) == len(env.trials)
    for frozen, trial in zip(ran, env.trials, strict=True):
        assert frozen.params == CANDIDATES.candidates[trial["config"]]
    failed = optuna.trial.TrialState.FAIL
    proposals = [t for t in study if t.state is failed and not is_candidate(t.params)]
    assert proposals  # TPE samples the real space: most proposals are no candidate
    for proposal in proposals:  # each is followed by the nearest candidate's trial
        unit = LCBENCH_SPACE.to_unit(proposal.params)
        following = study[proposal.number + 1]
        assert following.params == CANDIDATES.candidates[nearest_candidate(CANDIDATES, unit)]
        if following.state is failed:  # only when that candidate had had every trial seed
            before = [t for t in ran if t.number < following.number]
            assert [t.params for t in before].count(following.params) == len(CANDIDATE_SEEDS)
    steps = env_trials(env.step_log)
    for frozen in ran:
        if frozen.state is optuna.trial.TrialState.COMPLETE:
            trial = env.trials[ran.index(frozen)]["trial"]
            assert frozen.value == steps[trial][-1]["val_score"]


def test_tpe_ws_off_the_grid_enqueues_the_portfolios_candidates(
    lcbench_curves: pd.DataFrame, candidate_warm: WarmStart, warm: WarmStart
) -> None:
    env = candidate_env(lcbench_curves, budget_epochs=40)
    policy = TPESearch(warm_start=candidate_warm)
    run_episode(env, policy, seed=0)
    assert [t["config"] for t in env.trials[:2]] == [7, 2]
    first = policy.study.trials[:2]
    assert [t.params for t in first] == [CANDIDATES.candidates[i] for i in (7, 2)]
    with pytest.raises(ValueError, match="cannot apply to this search"):
        run_episode(env, TPESearch(warm_start=warm), seed=0)
