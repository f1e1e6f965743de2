"""Trial seeds: a configuration draws them without replacement within an episode, so no
(configuration, seed) is trained twice from scratch; one that has had them all is masked."""

from __future__ import annotations

import copy
import pickle
from collections import Counter

import numpy as np
import pandas as pd
import pytest

import tunegym
from tests.envs.conftest import BACKENDS, TINY_SEEDS, TINY_SPACE, EnvFactory
from tunegym.envs import (
    ReplayBackend,
    SearchSpace,
    TaskSpec,
    TuningEnv,
    make_tuning_env,
    record_curves,
)

K = 1  # every new trial buys one epoch: many trials within a small budget


def new(env: TuningEnv, config: int, k: int = K) -> int:
    return env.codec.new_config(config, k)


def config_seeds(env: TuningEnv) -> list[tuple[int, int]]:
    return [(t["config"], t["seed"]) for t in env.trials]


def new_masked(env: TuningEnv, config: int) -> bool:
    """Whether every new-trial action of ``config`` is masked."""
    mask = env.action_masks()
    return not any(mask[new(env, config, k)] for k in env.codec.k_choices)


def restart_episode(env: TuningEnv, seed: int) -> list[tuple[int, int]]:
    """Start config 0 until the mask forbids it, then config 1 once; the (config, seed)s."""
    env.reset(seed=seed)
    while not new_masked(env, 0):
        env.step(new(env, 0))
    env.step(new(env, 1))
    return config_seeds(env)


@pytest.mark.parametrize("backend", BACKENDS)
def test_restarting_a_configuration_draws_each_seed_once_then_masks_it(
    make_env: EnvFactory, backend: str
) -> None:
    env = make_env(backend, budget_epochs=12, n_slots=2)
    for seed in range(6):
        trials = restart_episode(env, seed)
        assert [c for c, _ in trials[:-1]] == [0] * len(TINY_SEEDS)
        assert sorted(s for c, s in trials if c == 0) == sorted(TINY_SEEDS)  # each seed once
        assert trials[-1][0] == 1 and new_masked(env, 0) and not new_masked(env, 1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_exhausted_configuration_arriving_anyway_is_invalid_and_charges_nothing(
    make_env: EnvFactory, backend: str
) -> None:
    env = make_env(backend, budget_epochs=12, n_slots=3)
    env.reset(seed=0)
    for _ in TINY_SEEDS:
        env.step(new(env, 0))
    used, trials = env.step_log[-1]["epochs_used"], env.trials
    _, reward, terminated, truncated, info = env.step(new(env, 0))
    assert not info["step"]["valid"] and reward == 0.0 and not (terminated or truncated)
    assert info["epochs_used"] == used and env.trials == trials
    # its trials still held can be continued
    assert env.action_masks()[env.codec.cont(0, K)] and env.action_masks()[env.codec.cont(1, K)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_episode_trains_a_configuration_and_seed_twice(
    make_env: EnvFactory, backend: str
) -> None:
    # 3 slots on 10 candidates: trials are replaced all the time, so configurations restart.
    env = make_env(backend, budget_epochs=40, n_slots=3)
    restarted = 0
    for seed in range(6):
        rng = np.random.default_rng(seed)
        env.reset(seed=seed)
        done = False
        while not done:
            mask = env.action_masks()
            news = np.flatnonzero(mask[: env.codec.n_new])
            action = int(rng.choice(news)) if len(news) else int(np.flatnonzero(mask)[0])
            *_, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
        counts = Counter(config_seeds(env))
        assert max(counts.values()) == 1, counts
        restarted += len(env.trials) - len({c for c, _ in counts})
    assert restarted > 0  # the check had restarts to catch


def test_reset_seed_fixes_the_seeds_drawn(make_env: EnvFactory) -> None:
    env = make_env("replay", budget_epochs=12, n_slots=2)
    assert restart_episode(env, 3) == restart_episode(env, 3)
    assert len({tuple(restart_episode(env, seed)) for seed in range(8)}) > 1


def test_the_episode_ends_when_no_configuration_can_start_or_continue() -> None:
    space = SearchSpace(lrs=(1e-2,), batch_sizes=(16,), max_epochs=2, k_choices=(2,))
    data = tunegym.load_dataset("sklearn:iris", seed=0)
    curves = record_curves(data, space, seeds=(0, 1))
    backend = ReplayBackend(curves, "sklearn:iris", space=space, seeds=(0, 1))
    env = TuningEnv(
        TaskSpec("sklearn:iris", space=space, budget_epochs=20, trial_seeds=(0, 1)), backend
    )
    env.reset(seed=0)
    *_, terminated, _, _ = env.step(new(env, 0, 2))
    assert not terminated  # its second seed is left
    *_, terminated, _, info = env.step(new(env, 0, 2))
    assert terminated and info["epochs_used"] == 4  # both trials at E_max, no seed left
    assert sorted(t["seed"] for t in env.trials) == [0, 1]


def test_task_rejects_repeated_trial_seeds() -> None:
    with pytest.raises(ValueError, match="distinct"):
        TaskSpec("sklearn:iris", trial_seeds=(0, 1, 0))


def test_tune_on_the_grid_never_retrains_a_trial() -> None:
    # Seed 1 on iris retrained an identical (lr, batch size, seed) trial before seeds were drawn
    # without replacement.
    result = tunegym.tune("sklearn:iris", space="lr-bs", budget_epochs=64, seed=1)
    keys = [(t.lr, t.batch_size, t.seed) for t in result.trials]
    assert len(keys) == len(set(keys)) > 1
    assert {t.seed for t in result.trials} <= {1, 2, 3}  # three seeds from the run's
    again = tunegym.tune("sklearn:iris", space="lr-bs", budget_epochs=64, seed=1)
    assert [(t.lr, t.batch_size, t.seed) for t in again.trials] == keys


def test_a_copied_env_masks_as_its_original(make_env: EnvFactory) -> None:
    # Vectorised training deep-copies (or pickles) the env: the copy's mask must follow its own
    # state, not stay frozen at the moment of the copy.
    env = make_env("replay", budget_epochs=12, n_slots=2)
    for clone in (copy.deepcopy(env), pickle.loads(pickle.dumps(env))):
        env.reset(seed=0)
        clone.reset(seed=0)
        for action in (new(env, 0), env.codec.cont(0, K), new(env, 0), new(env, 3, 4)):
            env.step(action)
            clone.step(action)
            assert np.array_equal(clone.action_masks(), env.action_masks())
        assert new_masked(clone, 0) and clone.action_masks()[env.codec.cont(0, K)]


def test_seeds_replaying_one_curve_count_as_one(iris_curves: pd.DataFrame) -> None:
    # A table of one curve per configuration (a deterministic benchmark) serves every seed
    # with that curve: a second trial would replay it again.
    table = iris_curves[iris_curves["seed"] == 0].drop(columns="seed")
    backend = ReplayBackend(table, "sklearn:iris", space=TINY_SPACE)
    task = TaskSpec("sklearn:iris", space=TINY_SPACE, budget_epochs=12, trial_seeds=(0, 1, 2))
    env = TuningEnv(task, backend)
    env.reset(seed=0)
    env.step(new(env, 0))
    assert new_masked(env, 0) and not new_masked(env, 1)


def test_a_replayed_env_draws_the_seeds_its_curves_hold() -> None:
    """Meta-dataset v2 holds 2 seeds: its replay draws from them, not the default three."""
    env = make_tuning_env("keel:german", "replay", space="lcbench")
    assert env.unwrapped.task.trial_seeds == (0, 1)
    grid = make_tuning_env("keel:german", "replay")  # v1's snapshot: 3 seeds
    assert grid.unwrapped.task.trial_seeds == (0, 1, 2)
