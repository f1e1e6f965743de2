"""DEHB: Hyperband's brackets, DE's operators, where configurations come from, selection."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from tests.baselines.conftest import CANDIDATES, candidate_env
from tests.envs.conftest import EnvFactory
from tunegym.baselines import DEHB, RandomSearch, hyperband_brackets, run_episode
from tunegym.baselines._candidates import nearest_candidate
from tunegym.baselines._dehb import (
    Origin,
    binomial_crossover,
    decode,
    rand1_mutation,
    repair,
)


def run_dehb(make_env: EnvFactory, budget: int, seed: int = 0, **kwargs: int) -> DEHB:
    env = make_env("replay", budget_epochs=budget, n_slots=budget)
    policy = DEHB(**kwargs)
    run_episode(env, policy, seed=seed)
    return policy


def test_rungs_follow_hyperbands_brackets_in_turn(make_env: EnvFactory) -> None:
    policy = run_dehb(make_env, budget=80, eta=2)
    brackets = hyperband_brackets(4, eta=2)
    assert policy.brackets == brackets
    # one subpopulation per fidelity, as large as the largest rung at that fidelity
    assert {f: len(p.vectors) for f, p in policy.populations.items()} == {1: 4, 2: 3, 4: 3}
    done = [r for r in policy.history if r.iteration < policy.history[-1].iteration]
    assert {r.iteration for r in done} == set(range(len({r.iteration for r in done})))
    assert len({r.iteration for r in done}) > len(brackets)  # cycled through them
    for iteration, records in itertools.groupby(done, key=lambda r: r.iteration):
        bracket = brackets[iteration % len(brackets)]
        rungs = [(r.rung, r.epochs) for r in records]
        assert all(r.s == bracket.s for r in done if r.iteration == iteration)
        expected = [(i, epochs) for i, (n, epochs) in enumerate(bracket.rungs) for _ in range(n)]
        assert rungs == expected


def test_configurations_are_random_then_promoted_then_evolved(make_env: EnvFactory) -> None:
    policy = run_dehb(make_env, budget=80, eta=2)
    n_brackets = len(policy.brackets)
    for record in policy.history:
        if record.iteration == 0 and record.rung == 0:
            assert record.origin is Origin.RANDOM
        elif record.iteration < n_brackets and record.rung > 0:
            assert record.origin is Origin.PROMOTION
        else:
            assert record.origin is Origin.MUTATION
        assert np.all((record.vector >= 0) & (record.vector <= 1))
    # the first bracket's promotions: the best of rung 0, best first, continuing their trials
    first = [r for r in policy.history if r.iteration == 0]
    rung0 = sorted((r for r in first if r.rung == 0), key=lambda r: -r.val)
    rung1 = [r for r in first if r.rung == 1]
    assert [tuple(r.vector) for r in rung1] == [tuple(r.vector) for r in rung0[: len(rung1)]]
    assert all(r.continued for r in rung1)


def test_a_promoted_trial_is_continued_by_the_env(make_env: EnvFactory) -> None:
    env = make_env("replay", budget_epochs=6, n_slots=6)
    run_episode(env, DEHB(), seed=0)  # bracket s=1 only: 3 @ 1 epoch, then the best to 4
    steps = [s for s in env.step_log if s["kind"] in ("new", "continue")]
    assert [s["kind"] for s in steps[:3]] == ["new"] * 3
    best = max(steps[:3], key=lambda s: s["val_score"])
    rest = steps[3:]
    assert rest and all(s["kind"] == "continue" and s["trial"] == best["trial"] for s in rest)
    assert sum(s["epochs"] for s in [best, *rest]) == 4


def test_rand1_mutation_and_binomial_crossover() -> None:
    a, b, c = np.array([0.2, 0.4]), np.array([0.9, 0.1]), np.array([0.5, 0.3])
    np.testing.assert_allclose(rand1_mutation(a, b, c, 0.5), [0.4, 0.3])
    target, mutant = np.zeros(2), np.ones(2)
    rng = np.random.default_rng(0)
    for _ in range(50):  # CR = 0: exactly one coordinate from the mutant
        child = binomial_crossover(target, mutant, 0.0, rng)
        assert child.sum() == 1
    np.testing.assert_array_equal(binomial_crossover(target, mutant, 1.0, rng), mutant)
    children = np.array([binomial_crossover(target, mutant, 0.5, rng) for _ in range(400)])
    assert children.sum(axis=1).min() >= 1  # never the target alone
    assert 0.55 < children.mean() < 0.7  # expected 0.625: both with p 1/4, else exactly one


def test_repair_resamples_only_what_is_out_of_bounds() -> None:
    rng = np.random.default_rng(0)
    for _ in range(100):
        vector = rng.uniform(-1.0, 2.0, size=4)
        fixed = repair(vector, rng)
        assert np.all((fixed >= 0) & (fixed <= 1))
        inside = (vector >= 0) & (vector <= 1)
        np.testing.assert_array_equal(fixed[inside], vector[inside])


def test_decode_bins_the_unit_interval() -> None:
    assert decode(np.array([0.0, 0.0]), (5, 2)) == (0, 0)
    assert decode(np.array([0.19, 0.49]), (5, 2)) == (0, 0)
    assert decode(np.array([0.2, 0.5]), (5, 2)) == (1, 1)
    assert decode(np.array([1.0, 1.0]), (5, 2)) == (4, 1)


def test_mutants_are_drawn_from_the_pool_without_the_target(make_env: EnvFactory) -> None:
    policy = run_dehb(make_env, budget=4)
    a, b, c, target = np.array([[0.1, 0.2], [0.5, 0.9], [0.3, 0.6], [0.7, 0.7]])
    pool = np.array([a, target, b, c])
    allowed = [rand1_mutation(x, y, z, 0.5) for x, y, z in itertools.permutations([a, b, c])]
    for _ in range(30):
        mutant = policy._mutant(pool, target)
        assert any(np.allclose(mutant, m) for m in allowed)


def test_selection_keeps_the_better(make_env: EnvFactory) -> None:
    policy = run_dehb(make_env, budget=60)
    best: dict[tuple[int, int], float] = {}
    selected = 0
    for record in policy.history:
        if np.isnan(record.val):
            continue  # cut by the budget
        key = (record.epochs, record.target)
        keep = -record.val <= best.get(key, np.inf)
        assert record.selected == keep
        if keep:
            best[key] = -record.val
        selected += keep
    assert 0 < selected < len(policy.history)  # some offspring lost
    for (epochs, target), fitness in best.items():
        assert policy.populations[epochs].fitness[target] == fitness


def test_same_seed_same_configurations(make_env: EnvFactory) -> None:
    def configs(seed: int) -> list[tuple]:
        return [(r.rung, tuple(r.vector), r.val) for r in run_dehb(make_env, 40, seed).history]

    assert configs(5) == configs(5)
    assert configs(5) != configs(6)


def test_dehb_beats_random_search_on_a_task_with_bad_learning_rates(
    make_env: EnvFactory,
) -> None:
    regrets: dict[str, list[float]] = {"dehb": [], "random": []}
    # 24 episodes: since a configuration draws its trial seeds without replacement, random
    # search covers this 10-candidate, 2-seed task well enough to win 8 lucky ones (mean regret
    # over 40 seeds: DEHB 0.006, random 0.012).
    for seed in range(24):
        for name, policy in (("dehb", DEHB()), ("random", RandomSearch())):
            env = make_env("replay", budget_epochs=48, n_slots=48)
            regrets[name].append(run_episode(env, policy, seed=seed).final_regret)
    assert np.mean(regrets["dehb"]) < np.mean(regrets["random"])


def test_dehb_continues_a_held_trial_of_a_candidate_out_of_seeds(make_env: EnvFactory) -> None:
    # 10 candidates x 2 seeds: DEHB's higher fidelities soon ask for candidates out of seeds;
    # it continues their trials (all held: 48 slots) and spends the whole budget.
    for seed in range(8):
        env = make_env("replay", budget_epochs=48, n_slots=48)
        policy = DEHB()
        run_episode(env, policy, seed=seed)
        keys = [(t["config"], t["seed"]) for t in env.trials]
        assert len(keys) == len(set(keys))
        assert env.step_log[-1]["epochs_used"] == 48, seed


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="eta"):
        DEHB(eta=1)
    with pytest.raises(ValueError, match="mutation_factor"):
        DEHB(mutation_factor=0)
    with pytest.raises(ValueError, match="crossover_prob"):
        DEHB(crossover_prob=1.5)


def test_dehb_off_the_grid_trains_the_candidate_nearest_its_vectors(
    lcbench_curves: pd.DataFrame,
) -> None:
    env = candidate_env(lcbench_curves, budget_epochs=60, n_slots=60)
    policy = DEHB(eta=2)
    run_episode(env, policy, seed=0)
    assert {p.vectors.shape[1] for p in policy.populations.values()} == {len(CANDIDATES.names)}
    assert {r.origin for r in policy.history} == set(Origin)
    for record in policy.history:
        assert record.config == nearest_candidate(CANDIDATES, record.vector)
    new = [t["config"] for t in env.trials]
    started = [r.config for r in policy.history if not r.continued]
    # Every new trial is a record's candidate, in order (a record of a candidate that had had
    # every trial seed continued its trial, or was skipped: it started none).
    proposals = iter(started)
    assert all(config in proposals for config in new)
    assert any(r.continued for r in policy.history)  # promotions continue their trials
