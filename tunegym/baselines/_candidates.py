"""Points of the unit cube as the env's candidates: what a tuner that proposes points trains.

A tuner that works in a continuous space (TPE in the real space, DEHB in the unit cube) must
still train one of the env's candidate configurations. It trains the candidate nearest to its
proposal in the unit cube (`tunegym.envs.SearchSpace.unit`), where every hyperparameter spans
``[0, 1]`` on its own scale (log for a log-scaled one), so no hyperparameter's units dominate.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tunegym.envs import SearchSpace
from tunegym.space import Space

__all__ = ["nearest_candidate", "space_of"]


def space_of(search: SearchSpace) -> Space:
    """The `tunegym.space.Space` of a search of candidates.

    Raises:
        ValueError: for the lr × batch-size grid, which has none.
    """
    if search.space is None:
        raise ValueError(
            "The lr x batch-size grid has no tunegym.space.Space; this path is for candidates "
            "of a space (SearchSpace.sampled or SearchSpace.of_configs)."
        )
    return search.space


def nearest_candidate(search: SearchSpace, point: npt.ArrayLike) -> int:
    """The index of the candidate nearest to ``point`` of the unit cube (L2; the first on ties).

    Args:
        search: the env's candidates (any kind).
        point: a point of ``[0, 1]^dim``, one coordinate per name of ``search.names``.

    Raises:
        ValueError: for a point of another dimension.

    Example:
        >>> from tunegym.envs import SearchSpace
        >>> search = SearchSpace(lrs=(1e-3, 1e-1), batch_sizes=(16, 64))
        >>> nearest_candidate(search, [0.9, 0.2])
        2
    """
    target = np.asarray(point, dtype=np.float64)
    if target.shape != (len(search.names),):
        raise ValueError(
            f"A point of this search has shape ({len(search.names)},) (one coordinate per "
            f"{list(search.names)}), got shape {target.shape}."
        )
    distances = ((search.unit.astype(np.float64) - target) ** 2).sum(axis=1)
    return int(np.argmin(distances))
