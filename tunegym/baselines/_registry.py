"""Baselines by name, for scripts and the command line."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from tunegym.baselines._dehb import DEHB
from tunegym.baselines._hyperband import Hyperband, SuccessiveHalving
from tunegym.baselines._optuna import Pruner, TPESearch
from tunegym.baselines._oracle import Oracle
from tunegym.baselines._policy import Policy
from tunegym.baselines._search import (
    BoxRandomSearch,
    GridSearch,
    RandomSearch,
    WarmStartRandomSearch,
)
from tunegym.errors import did_you_mean

__all__ = ["BASELINE_NAMES", "WARM_STARTED", "make_baseline"]

_FACTORIES: dict[str, Callable[..., Policy]] = {
    "random": RandomSearch,
    "grid": GridSearch,
    "sh": SuccessiveHalving,
    "hyperband": Hyperband,
    "tpe": partial(TPESearch, Pruner.NONE),
    "tpe-hyperband": partial(TPESearch, Pruner.HYPERBAND),
    "tpe-median": partial(TPESearch, Pruner.MEDIAN),
    "tpe-ws": partial(TPESearch, Pruner.NONE),
    "tpe-hyperband-ws": partial(TPESearch, Pruner.HYPERBAND),
    "dehb": DEHB,
    "ws-random": WarmStartRandomSearch,
    "box-random": BoxRandomSearch,
    "oracle": Oracle,
}

# Named in the benchmark protocol but not available, with the reason.
_UNAVAILABLE: dict[str, str] = {}

BASELINE_NAMES: tuple[str, ...] = tuple(_FACTORIES)
"""Names `make_baseline` accepts."""

WARM_STARTED: tuple[str, ...] = ("tpe-ws", "tpe-hyperband-ws", "ws-random", "box-random")
"""Baselines that need ``warm_start=`` (a `tunegym.metastore.WarmStart`)."""


def make_baseline(name: str, **kwargs: Any) -> Policy:
    """A baseline policy by name, built with ``kwargs``.

    Names: ``random`` (`RandomSearch`), ``grid`` (`GridSearch`), ``sh`` (`SuccessiveHalving`),
    ``hyperband`` (`Hyperband`), ``tpe``, ``tpe-hyperband``, ``tpe-median`` (`TPESearch` without
    pruner, with Optuna's HyperbandPruner, with its MedianPruner), ``tpe-ws`` and
    ``tpe-hyperband-ws`` (the same, the warm start's portfolio enqueued first; need
    ``warm_start=``), ``ws-random`` (`WarmStartRandomSearch`, needs ``warm_start=``),
    ``box-random`` (`BoxRandomSearch`, needs ``warm_start=``), ``dehb`` (`DEHB`, tunegym's own
    implementation) and ``oracle`` (`Oracle`).

    Raises:
        ValueError: for an unknown name (with the closest names).
        NotImplementedError: for a protocol method that is not available here, with the reason
            (none at present).

    Example:
        >>> from tunegym.baselines import make_baseline
        >>> make_baseline("hyperband", eta=2).eta
        2
    """
    if name in _UNAVAILABLE:
        raise NotImplementedError(_UNAVAILABLE[name])
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ValueError(
            f"Unknown baseline {name!r}; choose one of {list(BASELINE_NAMES)}."
            + did_you_mean(name, [*BASELINE_NAMES, *_UNAVAILABLE])
        )
    if name in WARM_STARTED and kwargs.get("warm_start") is None:
        raise ValueError(
            f"Baseline {name!r} needs warm_start= (e.g. tunegym.metastore.warm_start_snapshot)."
        )
    return factory(**kwargs)
