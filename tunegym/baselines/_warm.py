"""A meta-store warm start (portfolio, search box) read against the env's candidates.

The warm start (`tunegym.metastore.WarmStart`) speaks the lr × batch-size grid: portfolio entries
have an ``lr`` and a ``batch_size``, the box bounds both. On the grid the baselines read it as
grid indices, as they always did. Off the grid (candidates of a `tunegym.space.Space`) these
helpers decide what applies, and refuse with a ``ValueError`` when nothing does rather than
guess:

* a portfolio entry is used when its configuration is a candidate: the entry's own ``config``
  mapping if it has one, else its ``lr`` and ``batch_size`` under the space's names for them
  (``lr`` or ``learning_rate``; ``batch_size``), which is a configuration only of a space of
  exactly those two hyperparameters;
* the box keeps the candidates whose learning rate and batch size lie in it (the space must have
  both).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tunegym.envs import SearchSpace
from tunegym.space import LEARNING_RATE_NAMES

if TYPE_CHECKING:
    from tunegym.metastore import SearchBox, WarmStart

__all__ = ["box_candidates", "entry_config", "portfolio_candidates"]

LR_NAMES = LEARNING_RATE_NAMES  # names a space may give the box's and the portfolio's ``lr``

BATCH_SIZE_NAMES: tuple[str, ...] = ("batch_size",)
"""Names a space may give its batch size."""


def _named(names: Sequence[str], aliases: Sequence[str]) -> str | None:
    return next((name for name in names if name in aliases), None)


def entry_config(entry: Any, search: SearchSpace) -> dict[str, Any] | None:
    """A portfolio entry as a configuration with the search's names, ``None`` if it gives none.

    Args:
        entry: a `tunegym.metastore.PortfolioEntry` (or any object with ``lr`` and
            ``batch_size``, or with a ``config`` mapping).
        search: the env's candidates.
    """
    own = getattr(entry, "config", None)
    if isinstance(own, Mapping):
        config = dict(own)
    else:
        lr_name = _named(search.names, LR_NAMES)
        bs_name = _named(search.names, BATCH_SIZE_NAMES)
        if lr_name is None or bs_name is None:
            return None
        config = {lr_name: entry.lr, bs_name: entry.batch_size}
    return config if set(config) == set(search.names) else None


def portfolio_candidates(warm_start: WarmStart, search: SearchSpace) -> list[int]:
    """The candidate indices of the portfolio's entries that are candidates, in its order.

    Args:
        warm_start: the meta-store's warm start.
        search: the env's candidates (any kind; meant for candidates of a space).

    Returns:
        Candidate indices (an empty portfolio gives none).

    Raises:
        ValueError: when the portfolio has entries and none of them is a candidate: the warm
            start cannot apply to this search.
    """
    indices: list[int] = []
    foreign = absent = 0
    for entry in warm_start.portfolio:
        config = entry_config(entry, search)
        if config is None:
            foreign += 1
            continue
        try:
            indices.append(search.index_of(config))
        except ValueError:
            absent += 1
    if warm_start.portfolio and not indices:
        raise ValueError(
            f"The warm start of {warm_start.target!r} cannot apply to this search: none of its "
            f"{len(warm_start.portfolio)} portfolio entries is a candidate ({foreign} give no "
            f"configuration of the hyperparameters {list(search.names)}: an lr x batch-size "
            f"entry fits only a space of those two; {absent} are not among the "
            f"{search.n_configs} candidates). Build the search with the portfolio included "
            "(SearchSpace.sampled(space, n, include=configs)), or use a cold-start baseline."
        )
    return indices


def box_candidates(box: SearchBox, search: SearchSpace) -> np.ndarray:
    """The indices of the candidates whose learning rate and batch size lie in ``box``.

    Raises:
        ValueError: when the search's space has no learning rate or no batch size (the box
            cannot apply), or no candidate lies in the box.
    """
    lr_name = _named(search.names, LR_NAMES)
    bs_name = _named(search.names, BATCH_SIZE_NAMES)
    if lr_name is None or bs_name is None:
        raise ValueError(
            f"The search box {box} bounds a learning rate ({' or '.join(LR_NAMES)}) and a batch "
            f"size ({' or '.join(BATCH_SIZE_NAMES)}); the search's hyperparameters "
            f"{list(search.names)} lack one, so the box cannot apply. Use RandomSearch instead."
        )
    inside = [
        i
        for i, config in enumerate(search.candidates)
        if box.contains(float(config[lr_name]), int(config[bs_name]))
    ]
    if not inside:
        raise ValueError(
            f"The search box {box} holds no configuration of the env's {search.n_configs} "
            f"candidates (by their {lr_name!r} and {bs_name!r})."
        )
    return np.asarray(inside, dtype=np.int64)
