"""Syne Tune's ASHA and BOHB as peers: the library's own schedulers, driven trial by trial.

Both are `syne_tune.optimizer.baselines` schedulers, stopping-type asynchronous successive
halving with one bracket (minimum 1 epoch, maximum the curves' length, halving rate
``ep.eta``): ASHA draws configurations at random, BOHB from its kernel density estimates
(Falkner et al., 2018). One simulated worker runs each trial epoch by epoch and reports every
epoch's validation score; the scheduler stops it at a rung or lets it reach the last epoch.
Each suggested point of the space trains the pool configuration nearest it. With a portfolio
(the ``-ws`` variants) the portfolio's configurations are the scheduler's
``points_to_evaluate``, tried first and in order.
"""

from __future__ import annotations

import itertools
import logging
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import numpy as np

from tunegym.bench._episode import STALL_TRIALS, Episode
from tunegym.errors import MissingExtraError
from tunegym.space import Categorical, Float, Int, Space

__all__ = ["asha", "bohb", "to_syne_space"]


_METRIC = "val_score"
_TIME_ATTR = "epoch"
# Warns, for every scheduler a baseline builds, that points_to_evaluate came in searcher_kwargs
# (where the baselines put them, even None) and that it takes them from its constructor, which
# holds the same list: noise on every episode.
_NOISY_LOGGER = "syne_tune.optimizer.schedulers.searchers.last_value_multi_fidelity_searcher"


def to_syne_space(space: Space) -> dict[str, Any]:
    """``space`` as a Syne Tune configuration space (a dict of its domains).

    A `Float` gives ``uniform``/``loguniform``, an `Int` ``randint``/``lograndint`` (both
    bounds included) and a `Categorical` ``choice`` of its values.

    Raises:
        MissingExtraError: Syne Tune is not installed.
        ValueError: a `Categorical` mixes value types (Syne Tune's ``choice`` takes one type).
    """
    try:
        from syne_tune import config_space as sc  # type: ignore[import-untyped]
    except ImportError as error:
        raise MissingExtraError("syne-tune", "peers", "The Syne Tune peers") from error
    out: dict[str, Any] = {}
    for param in space:
        if isinstance(param, Float):
            out[param.name] = (sc.loguniform if param.log else sc.uniform)(param.low, param.high)
        elif isinstance(param, Categorical):
            if len({type(c) for c in param.choices}) > 1:
                raise ValueError(
                    f"Categorical {param.name!r} mixes value types {list(param.choices)!r}; "
                    "Syne Tune's choice needs values of one type (write them all as str)."
                )
            out[param.name] = sc.choice(list(param.choices))
        else:
            out[param.name] = (sc.lograndint if param.log else sc.randint)(param.low, param.high)
    return out


def asha(ep: Episode) -> None:
    """Syne Tune's ASHA (Li et al., 2020): random configurations, stopped at the rungs.

    Raises:
        MissingExtraError: Syne Tune is not installed.
        BudgetSpent: the episode's budget ran out (this ends every episode).
    """
    _run(ep, "ASHA")


def bohb(ep: Episode) -> None:
    """Syne Tune's BOHB: ASHA whose configurations come from TPE-like kernel density estimates
    fitted on each trial's last reported score (the library's defaults otherwise).

    Raises:
        MissingExtraError: Syne Tune (or its ``statsmodels`` dependency) is not installed.
        BudgetSpent: the episode's budget ran out (this ends every episode).
    """
    _run(ep, "BOHB")


def _run(ep: Episode, scheduler: str) -> None:
    """Build ``syne_tune.optimizer.baselines.<scheduler>`` for the episode and drive it."""
    try:
        from syne_tune.optimizer import baselines  # type: ignore[import-untyped]
    except ImportError as error:
        raise MissingExtraError("syne-tune", "peers", f"The {scheduler} peer") from error
    with _library_quirks(ep.seed):
        _drive(ep, getattr(baselines, scheduler)(**_scheduler_args(ep)))


def _scheduler_args(ep: Episode) -> dict[str, Any]:
    """The arguments ASHA and BOHB share: the space, the epochs, the seed, the portfolio."""
    return {
        "config_space": to_syne_space(ep.pool.space),
        "metric": _METRIC,
        "do_minimize": False,
        "time_attr": _TIME_ATTR,
        "max_t": ep.max_epochs,
        "grace_period": 1,
        "reduction_factor": ep.eta,
        "random_seed": ep.seed,
        "points_to_evaluate": ep.portfolio_configs() or None,
    }


def _drive(ep: Episode, scheduler: Any) -> None:
    """Run ``scheduler``'s trials one after the other until the budget ends.

    Each trial reports every epoch; it ends when the scheduler says STOP (at a rung, or at
    ``max_t``) or at the last epoch, and is then completed. Returns early if the scheduler has
    no configuration left to suggest, or if `STALL_TRIALS` trials in a row charged nothing.
    """
    from syne_tune.backend.trial_status import Trial  # type: ignore[import-untyped]
    from syne_tune.optimizer.scheduler import SchedulerDecision  # type: ignore[import-untyped]

    free = 0  # trials in a row that charged nothing
    for trial_id in itertools.count():
        if free >= STALL_TRIALS:
            return
        spent = ep.ledger.spent
        suggestion = scheduler.suggest()
        if suggestion is None:
            return
        trial = Trial(trial_id=trial_id, config=suggestion.config, creation_time=datetime.now())
        scheduler.on_trial_add(trial)
        index = ep.index_of(_into(ep.pool.space, suggestion.config))
        for epoch in range(1, ep.max_epochs + 1):
            result = {_METRIC: ep.ledger.train(index, epoch), _TIME_ATTR: epoch}
            if scheduler.on_trial_result(trial, result) == SchedulerDecision.STOP:
                break
        scheduler.on_trial_complete(trial, result)
        free = free + 1 if ep.ledger.spent == spent else 0


def _into(space: Space, config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with its numbers clipped into their ranges.

    BOHB's density estimates map an integer ``v`` of ``[low, high]`` to the unit interval as if
    ``low`` were 1, so they propose values below ``low`` (``max_units = 39`` of [64, 1024]).
    """
    out = dict(config)
    for param in space:
        if isinstance(param, Float | Int):
            out[param.name] = min(max(out[param.name], param.low), param.high)
    return out


@contextmanager
def _library_quirks(seed: int) -> Iterator[None]:
    """Make Syne Tune reproducible and quiet for the block; the caller's state comes back after.

    Syne Tune 0.16 draws from numpy's global generator despite ``random_seed``: ASHA's bracket
    choice (``on_trial_add``) and the random configurations of the searchers that its
    multi-fidelity wrapper builds once it has 5 results (ASHA's ``RandomSearcher``, BOHB's random
    fraction). So the global generator is seeded with the episode's seed here, and its state
    restored after. BOHB's statsmodels KDEs warn (FutureWarning) that they would use it too,
    and divide by zero (RuntimeWarning) on a categorical of which the data show one value.
    """
    state = np.random.get_state()  # noqa: NPY002 - the library's global generator, see above
    noisy = logging.getLogger(_NOISY_LOGGER)
    level = noisy.level
    np.random.seed(seed % 2**32)  # noqa: NPY002
    noisy.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message=".*numpy.random.Generator", category=FutureWarning
            )
            warnings.filterwarnings("ignore", category=RuntimeWarning, module="statsmodels")
            yield
    finally:
        noisy.setLevel(level)
        np.random.set_state(state)  # noqa: NPY002
