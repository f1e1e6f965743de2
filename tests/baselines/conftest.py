"""Fixtures: the tiny iris task of ``tests/envs`` (both backends) and a warm start for it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from tests.envs.conftest import TINY_SPACE, iris, iris_curves, make_env  # noqa: F401  (fixtures)
from tunegym.baselines import WARM_STARTED, Policy, make_baseline
from tunegym.metastore import Neighbor, WarmStart, compute_warm_start


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


BaselineFactory = Callable[[str], Policy]


@pytest.fixture
def baseline(iris_curves: pd.DataFrame, warm: WarmStart) -> BaselineFactory:  # noqa: F811
    """Build a baseline by name with the arguments it needs on the tiny task."""

    def build(name: str) -> Policy:
        kwargs: dict[str, Any] = {}
        if name in WARM_STARTED:
            kwargs["warm_start"] = warm
        elif name == "oracle":
            kwargs["source"] = iris_curves  # the live env has no curves of its own
        return make_baseline(name, **kwargs)

    return build
