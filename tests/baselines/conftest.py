"""Fixtures: the tiny iris task of ``tests/envs`` (both backends), a replayed task over candidates
of LCBench's space, and a warm start for each."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.envs.conftest import TINY_SPACE, iris, iris_curves, make_env  # noqa: F401  (fixtures)
from tunegym.baselines import WARM_STARTED, Policy, make_baseline
from tunegym.envs import ReplayBackend, SearchSpace, TaskSpec, TuningEnv
from tunegym.metastore import (
    Neighbor,
    PortfolioEntry,
    SearchBox,
    WarmStart,
    compute_warm_start,
)
from tunegym.space import LCBENCH_SPACE

# Twelve Sobol candidates of LCBench's seven hyperparameters, with synthetic curves.
CANDIDATES = SearchSpace.sampled(LCBENCH_SPACE, 12, seed=0, max_epochs=4)
CANDIDATE_SEEDS = (0, 1)
CANDIDATE_DATASET = "synthetic:lcbench"
DIVERGING = 5  # this candidate's curves diverge at their second epoch
SETTINGS = ("live", "replay", "candidates")  # grid live, grid replay, candidates replayed


def candidate_curves() -> pd.DataFrame:
    """A curve table of every candidate and seed: accuracy grows towards a ceiling that peaks
    near one corner of the unit cube; one candidate diverges."""
    rows = []
    for i, config in enumerate(CANDIDATES.candidates):
        ceiling = 0.95 - 0.5 * float(np.mean((CANDIDATES.unit[i] - 0.3) ** 2))
        for seed in CANDIDATE_SEEDS:
            for epoch in range(1, CANDIDATES.max_epochs + 1):
                diverged = i == DIVERGING and epoch == 2
                acc = 0.1 if diverged else ceiling * (1 - 0.5**epoch) + 0.01 * seed
                loss = math.inf if diverged else -math.log(acc)
                rows.append({
                    **config, "seed": seed, "epoch": epoch,
                    "val_accuracy": acc, "test_accuracy": acc - 0.02,
                    "val_balanced_accuracy": acc, "test_balanced_accuracy": acc - 0.03,
                    "val_loss": loss, "test_loss": loss, "train_loss": loss,
                    "seconds": 0.1 * epoch, "diverged": diverged, "dataset": CANDIDATE_DATASET,
                })  # fmt: skip
                if diverged:
                    break
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def lcbench_curves() -> pd.DataFrame:
    return candidate_curves()


def candidate_env(curves: pd.DataFrame, **kwargs: Any) -> TuningEnv:
    """A replay env over `CANDIDATES` (``kwargs`` override the `TaskSpec`'s fields)."""
    options: dict[str, Any] = {
        "space": CANDIDATES,
        "trial_seeds": CANDIDATE_SEEDS,
        "budget_epochs": 24,
        "n_slots": 4,
        **kwargs,
    }
    backend = ReplayBackend(curves, space=options["space"], seeds=options["trial_seeds"])
    return TuningEnv(TaskSpec(CANDIDATE_DATASET, **options), backend)


@dataclass(frozen=True)
class ConfigEntry(PortfolioEntry):
    """A portfolio entry that also gives its whole configuration (of any space)."""

    config: Mapping[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="session")
def warm(iris_curves: pd.DataFrame) -> WarmStart:  # noqa: F811  (the imported fixture)
    """A warm start whose one neighbour has iris's own curves (what a policy does with it is
    under test here, not the neighbour search)."""
    return compute_warm_start(
        "sklearn:iris",
        [Neighbor("neighbour", 0.1)],
        lambda _: iris_curves,
        TINY_SPACE.lrs,
        TINY_SPACE.batch_sizes,
    )


def candidate_entry(config: Mapping[str, Any]) -> ConfigEntry:
    return ConfigEntry(
        lr=config["learning_rate"], batch_size=config["batch_size"], epochs=4,
        expected_score=1.0, score=0.9, dataset="neighbour", distance=0.1, config=dict(config),
    )  # fmt: skip


@pytest.fixture(scope="session")
def candidate_warm() -> WarmStart:
    """A warm start for `CANDIDATES`: a portfolio of candidates 7 and 2 and one configuration
    that is not a candidate; a box around the learning rates and batch sizes of 2, 7 and 9."""
    outside = LCBENCH_SPACE.sample(1, seed=99)[0]
    assert CANDIDATES.key(outside) not in {CANDIDATES.key(c) for c in CANDIDATES.candidates}
    picked = [CANDIDATES.candidates[i] for i in (2, 7, 9)]
    lrs = [c["learning_rate"] for c in picked]
    batch_sizes = [c["batch_size"] for c in picked]
    return WarmStart(
        target=CANDIDATE_DATASET,
        neighbors=(Neighbor("neighbour", 0.1),),
        portfolio=tuple(candidate_entry(c) for c in (picked[1], outside, picked[0])),
        box=SearchBox(min(lrs), max(lrs), min(batch_sizes), max(batch_sizes)),
        prior=np.zeros((1, 1)),
        lrs=(),
        batch_sizes=(),
    )


BaselineFactory = Callable[..., Policy]


@pytest.fixture
def baseline(
    iris_curves: pd.DataFrame,  # noqa: F811
    warm: WarmStart,
    candidate_warm: WarmStart,
) -> BaselineFactory:
    """Build a baseline by name with the arguments it needs on the tiny task of ``setting``."""

    def build(name: str, setting: str = "replay") -> Policy:
        kwargs: dict[str, Any] = {}
        if name in WARM_STARTED:
            kwargs["warm_start"] = candidate_warm if setting == "candidates" else warm
        elif name == "oracle" and setting != "candidates":
            kwargs["source"] = iris_curves  # the live env has no curves of its own
        return make_baseline(name, **kwargs)

    return build


SettingEnvFactory = Callable[..., TuningEnv]


@pytest.fixture
def setting_env(make_env: Any, lcbench_curves: pd.DataFrame) -> SettingEnvFactory:  # noqa: F811
    """An env of ``setting`` (`SETTINGS`): the iris grid live or replayed, or `CANDIDATES`."""

    def factory(setting: str, **kwargs: Any) -> TuningEnv:
        if setting == "candidates":
            return candidate_env(lcbench_curves, **kwargs)
        return make_env(setting, **kwargs)

    return factory
