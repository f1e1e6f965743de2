"""Shared fixtures: a tiny task with recorded curves, and an env factory for both backends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from tunegym.data import TabularDataset, load_dataset
from tunegym.envs import SearchSpace, TuningEnv, make_tuning_env, record_curves

# 1e20 diverges (non-finite loss) in its first epoch; 1.0 is merely bad.
TINY_SPACE = SearchSpace(lrs=(1e-3, 1e-2, 1e-1, 1.0, 1e20), batch_sizes=(16, 64), max_epochs=4)
TINY_SEEDS = (0, 1)
BACKENDS = ("live", "replay")


@pytest.fixture(scope="session")
def iris() -> TabularDataset:
    return load_dataset("sklearn:iris", seed=0)


@pytest.fixture(scope="session")
def iris_curves(iris: TabularDataset) -> pd.DataFrame:
    return record_curves(iris, TINY_SPACE, seeds=TINY_SEEDS, batched=False)


EnvFactory = Callable[..., TuningEnv]


@pytest.fixture
def make_env(iris: TabularDataset, iris_curves: pd.DataFrame) -> EnvFactory:
    """Build a tiny env on either backend; the live one gets replay's score bounds."""
    bounds = (float(iris_curves["val_accuracy"].max()), float(iris_curves["val_accuracy"].min()))

    def factory(backend: str, **kwargs: Any) -> TuningEnv:
        options: dict[str, Any] = {
            "space": TINY_SPACE,
            "budget_epochs": 12,
            "n_slots": 3,
            "trial_seeds": TINY_SEEDS,
            **kwargs,
        }
        if backend == "replay":
            options["curves"] = iris_curves
        else:
            options.setdefault("score_bounds", bounds)
        return make_tuning_env(iris, backend, **options)

    return factory
