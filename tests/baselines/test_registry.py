"""`make_baseline`: every name builds a policy; unknown names suggest the closest."""

from __future__ import annotations

import pytest

from tests.baselines.conftest import BaselineFactory
from tunegym.baselines import (
    BASELINE_NAMES,
    DEHB,
    WARM_STARTED,
    Hyperband,
    Policy,
    Pruner,
    SuccessiveHalving,
    TPESearch,
    make_baseline,
)


def test_every_name_builds_a_policy(baseline: BaselineFactory) -> None:
    assert len(BASELINE_NAMES) == 13
    for name in BASELINE_NAMES:
        assert isinstance(baseline(name), Policy)


def test_names_map_to_their_baselines() -> None:
    assert type(make_baseline("sh")) is SuccessiveHalving
    assert type(make_baseline("hyperband", eta=2)) is Hyperband
    tpe = make_baseline("tpe-median", n_startup_trials=3)
    assert isinstance(tpe, TPESearch)
    assert (tpe.pruner, tpe.n_startup_trials) == (Pruner.MEDIAN, 3)
    for name, pruner in [("tpe", Pruner.NONE), ("tpe-hyperband", Pruner.HYPERBAND)]:
        policy = make_baseline(name)
        assert isinstance(policy, TPESearch) and policy.pruner is pruner


def test_unknown_names_suggest_the_closest() -> None:
    with pytest.raises(ValueError, match=r"Unknown baseline 'hyperbnd'.*Did you mean 'hyperband'"):
        make_baseline("hyperbnd")
    with pytest.raises(ValueError, match="Did you mean 'dehb'"):
        make_baseline("dhb")


def test_dehb_builds_tunegyms_own_dehb() -> None:
    dehb = make_baseline("dehb", eta=2, mutation_factor=0.8)
    assert type(dehb) is DEHB
    assert (dehb.eta, dehb.min_epochs, dehb.mutation_factor, dehb.crossover_prob) == (
        2,
        1,
        0.8,
        0.5,
    )
    assert BASELINE_NAMES.index("dehb") == BASELINE_NAMES.index("tpe-hyperband-ws") + 1


@pytest.mark.parametrize("name", WARM_STARTED)
def test_a_warm_started_baseline_without_a_warm_start_is_an_error(name: str) -> None:
    with pytest.raises(ValueError, match="needs warm_start="):
        make_baseline(name)
