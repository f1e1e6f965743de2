"""Hyperband's brackets, and successive halving / Hyperband as new and continue actions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.baselines.conftest import CANDIDATES, candidate_env
from tests.envs.conftest import EnvFactory
from tunegym.baselines import Hyperband, SuccessiveHalving, hyperband_brackets, run_episode


def test_brackets_match_li_et_al_table_1() -> None:
    # Li et al. (2017), Table 1: R = 81, eta = 3.
    rungs = [b.rungs for b in hyperband_brackets(81, eta=3)]
    assert rungs == [
        ((81, 1), (27, 3), (9, 9), (3, 27), (1, 81)),
        ((34, 3), (11, 9), (3, 27), (1, 81)),
        ((15, 9), (5, 27), (1, 81)),
        ((8, 27), (2, 81)),
        ((5, 81),),
    ]
    assert [b.s for b in hyperband_brackets(81)] == [4, 3, 2, 1, 0]


@pytest.mark.parametrize(
    ("max_epochs", "eta", "min_epochs", "expected"),
    [
        (16, 3, 1, [((9, 2), (3, 5), (1, 16)), ((5, 5), (1, 16)), ((3, 16),)]),
        (4, 2, 1, [((4, 1), (2, 2), (1, 4)), ((3, 2), (1, 4)), ((3, 4),)]),
        (16, 3, 2, [((3, 5), (1, 16)), ((2, 16),)]),
        (4, 3, 1, [((3, 1), (1, 4)), ((2, 4),)]),
        (1, 3, 1, [((1, 1),)]),
    ],
)
def test_brackets_round_rungs_to_whole_epochs(
    max_epochs: int, eta: int, min_epochs: int, expected: list
) -> None:
    assert [b.rungs for b in hyperband_brackets(max_epochs, eta, min_epochs)] == expected


@pytest.mark.parametrize(
    "kwargs", [{"eta": 1}, {"min_epochs": 0}, {"min_epochs": 5}, {"max_epochs": 0}, {"eta": 2.5}]
)
def test_bad_bracket_arguments_are_rejected(kwargs: dict) -> None:
    args = {"max_epochs": 4, "eta": 3, "min_epochs": 1, **kwargs}
    with pytest.raises(ValueError, match="must"):
        hyperband_brackets(**args)


def test_min_epochs_above_e_max_is_rejected_at_reset(make_env: EnvFactory) -> None:
    with pytest.raises(ValueError, match="exceeds the task's E_max"):
        run_episode(make_env("replay"), Hyperband(min_epochs=5), seed=0)


def trial_epochs(log: list[dict]) -> dict[int, int]:
    epochs: dict[int, int] = {}
    for step in log:
        if step["kind"] in ("new", "continue"):
            epochs[step["trial"]] = epochs.get(step["trial"], 0) + step["epochs"]
    return epochs


def test_successive_halving_promotes_the_best_of_its_rung(make_env: EnvFactory) -> None:
    # E_max = 4, eta = 3: one bracket, 3 trials at 1 epoch, the best one continued to 4.
    env = make_env("replay", budget_epochs=40, n_slots=40)  # enough slots: no replacement
    policy = SuccessiveHalving()
    for seed in range(4):
        run_episode(env, policy, seed=seed)
        log = env.step_log
        assert [(s["kind"], s["k"]) for s in log[:3]] == [("new", 1)] * 3
        rung = {s["trial"]: (s["val_score"], s["diverged"]) for s in log[:3]}
        alive = [t for t, (_, diverged) in rung.items() if not diverged]
        best = max(alive, key=lambda t: (rung[t][0], -t))  # ties: the earlier trial
        promoted = [s for s in log[3:] if s["kind"] == "continue" and s["trial"] == best]
        assert [s["k"] for s in promoted] == [2, 1]  # 3 more epochs as valid increments
        assert [s["kind"] for s in log[3:5]] == ["continue", "continue"]
        assert [(s["kind"], s["k"]) for s in log[5:8]] == [("new", 1)] * 3  # next bracket
        assert policy.n_restarts == 0


def test_hyperband_runs_its_brackets_in_turn(make_env: EnvFactory) -> None:
    env = make_env("replay", budget_epochs=40, n_slots=40)
    policy = Hyperband()
    run_episode(env, policy, seed=0)
    assert [b.rungs for b in policy.brackets] == [((3, 1), (1, 4)), ((2, 4),)]
    kinds = [(s["kind"], s["k"]) for s in env.step_log]
    # bracket s=1 (3 new at 1 epoch, the best continued by 2 + 1), then bracket s=0
    # (2 new trials of 4 epochs), then s=1 again
    assert kinds[:5] == [("new", 1)] * 3 + [("continue", 2), ("continue", 1)]
    assert kinds[5:7] == [("new", 4)] * 2
    assert kinds[7:10] == [("new", 1)] * 3


def test_survivor_that_lost_its_slot_restarts_from_scratch(make_env: EnvFactory) -> None:
    # One slot: each new trial of a rung replaces the previous one, so the survivor is still
    # held only when it was the rung's last trial; otherwise it is started again for 4 epochs.
    restarted = 0
    for seed in range(6):
        env = make_env("replay", budget_epochs=12, n_slots=1)
        policy = SuccessiveHalving()
        run_episode(env, policy, seed=seed)
        log = env.step_log
        rung = {s["trial"]: s for s in log[:3] if not s["diverged"]}
        best = max(rung, key=lambda t: (rung[t]["val_score"], -t))
        follow = log[3]
        if best == 2:
            assert (follow["kind"], follow["trial"], policy.n_restarts) == ("continue", 2, 0)
        else:
            same_config = (follow["lr"], follow["batch_size"]) == (
                rung[best]["lr"],
                rung[best]["batch_size"],
            )
            assert (follow["kind"], follow["k"], same_config) == ("new", 4, True)
            assert trial_epochs(log)[follow["trial"]] == 4
            assert policy.n_restarts >= 1
            restarted += 1
    assert restarted > 0  # the case under test happened


def test_hyperband_draws_distinct_candidates_per_rung_off_the_grid(
    lcbench_curves: pd.DataFrame,
) -> None:
    env = candidate_env(lcbench_curves, budget_epochs=40, n_slots=40)
    policy = Hyperband(eta=2)
    for seed in range(3):
        run_episode(env, policy, seed=seed)
        rng = np.random.default_rng(seed)
        n = policy.brackets[0].rungs[0][0]
        first = [t["config"] for t in env.trials[:n]]
        assert first == rng.choice(CANDIDATES.n_configs, size=n, replace=False).tolist()
        # the rung's survivors are continued, not started again
        continued = {s["trial"] for s in env.step_log if s["kind"] == "continue"}
        assert continued and continued <= {t["trial"] for t in env.trials}
        assert policy.n_restarts == 0
