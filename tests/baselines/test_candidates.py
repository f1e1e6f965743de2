"""Unit-cube points as candidates: the nearest one in L2."""

from __future__ import annotations

import numpy as np
import pytest

from tests.baselines.conftest import CANDIDATES
from tunegym.baselines._candidates import nearest_candidate, space_of
from tunegym.envs import SearchSpace


def test_every_candidate_is_its_own_nearest() -> None:
    for i in range(CANDIDATES.n_configs):
        assert nearest_candidate(CANDIDATES, CANDIDATES.unit[i]) == i


def test_the_nearest_candidate_minimises_the_distance() -> None:
    rng = np.random.default_rng(0)
    for point in rng.uniform(size=(50, len(CANDIDATES.names))):
        distances = np.linalg.norm(CANDIDATES.unit - point, axis=1)
        assert distances[nearest_candidate(CANDIDATES, point)] == pytest.approx(distances.min())


def test_on_the_grid_the_nearest_point_of_the_log_scaled_square() -> None:
    grid = SearchSpace(lrs=(1e-3, 1e-2, 1e-1), batch_sizes=(16, 64))
    assert nearest_candidate(grid, [0.45, 0.9]) == 3  # lr 1e-2, batch size 64
    assert nearest_candidate(grid, [0.5, 0.5]) == 2  # a tie: the first in lr-major order
    with pytest.raises(ValueError, match=r"has shape \(2,\)"):
        nearest_candidate(grid, [0.5])
    with pytest.raises(ValueError, match=r"grid has no tunegym\.space\.Space"):
        space_of(grid)
