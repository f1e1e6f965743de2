"""LCBench through its surrogate: the curves of a search's candidates, replayed.

The surrogate (`tunegym.surrogates.LCBench`, YAHPO Gym's model) predicts a configuration's
whole curve in one call and is deterministic, so the env needs no backend of its own: the
curves of every candidate are predicted once, in one batched call, into a curve table, and
`ReplayBackend` serves them (a trial's seed is irrelevant: one curve per configuration). The
score bounds are the best and worst of those curves. Results obtained this way are labelled
"LCBench (YAHPO surrogate)".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from tunegym.envs._backends import ReplayBackend
from tunegym.envs._task import SearchSpace

if TYPE_CHECKING:
    from tunegym.surrogates import LCBench

__all__ = ["LCBENCH_PREFIX", "lcbench_backend", "lcbench_curves"]

LCBENCH_PREFIX = "lcbench:"

# The surrogate's columns under the curve table's names (it predicts no test accuracy).
_COLUMNS = {
    "val_accuracy": "val_accuracy",
    "val_balanced_accuracy": "val_balanced_accuracy",
    "test_balanced_accuracy": "test_balanced_accuracy",
    "val_cross_entropy": "val_loss",
    "test_cross_entropy": "test_loss",
    "seconds": "seconds",
}


def lcbench_curves(surrogate: LCBench, task: int | str, space: SearchSpace) -> pd.DataFrame:
    """The surrogate's curves of every candidate of ``space``, as a curve table.

    Columns: the candidates' hyperparameters, ``epoch`` (1 .. ``space.max_epochs``, at most
    52), the scores under the env's metric names (``val_loss`` is the cross-entropy), the
    per-epoch ``seconds`` and ``dataset`` (``lcbench:<OpenML task id>``).

    Raises:
        ValueError: for a space that is not of LCBench's 7 hyperparameters, an ``E_max``
            beyond the surrogate's 52 epochs, or an unknown task (with near misses).
    """
    from tunegym.space import LCBENCH_SPACE

    if space.is_grid or set(space.names) != set(LCBENCH_SPACE.names):
        raise ValueError(
            f"LCBench's surrogate predicts configurations of {list(LCBENCH_SPACE.names)}; this "
            f"search has {list(space.names)}. Use SearchSpace.sampled(LCBENCH_SPACE, n)."
        )
    if space.max_epochs > surrogate.epochs:
        raise ValueError(
            f"LCBench's curves have {surrogate.epochs} epochs; max_epochs={space.max_epochs} "
            "is beyond them."
        )
    task_id = surrogate.resolve_task(task)
    table = surrogate.curves(task_id, list(space.candidates), epochs=space.max_epochs)
    frame = table[[*space.names, "epoch", *_COLUMNS]].rename(columns=_COLUMNS)
    frame["diverged"] = False
    frame["dataset"] = f"{LCBENCH_PREFIX}{task_id}"
    return frame.reset_index(drop=True)


def lcbench_backend(
    task: int | str,
    space: SearchSpace,
    *,
    metric: str = "val_accuracy",
    surrogate: LCBench | None = None,
) -> ReplayBackend:
    """A backend serving LCBench's surrogate curves of ``space``'s candidates on ``task``.

    Args:
        task: an OpenML task id of LCBench (``126025``), its name (``"adult"``) or
            ``"lcbench:<id or name>"``.
        space: candidates of `tunegym.space.LCBENCH_SPACE` (e.g. `SearchSpace.sampled`).
        metric: ``val_accuracy``, ``val_balanced_accuracy`` or ``val_loss`` (cross-entropy).
        surrogate: the surrogate (default `LCBench.open()`: ``$TUNEGYM_LCBENCH`` or the
            shared folder).

    Example:
        >>> from tunegym.space import LCBENCH_SPACE
        >>> space = SearchSpace.sampled(LCBENCH_SPACE, 16, seed=0, max_epochs=52)
        >>> backend = lcbench_backend("adult", space)
        >>> segment = backend.advance(backend.start(space.candidates[0], seed=0), 52)
        >>> len(segment.scores)
        52
    """
    if surrogate is None:
        from tunegym.surrogates import LCBench

        surrogate = LCBench.open()
    if isinstance(task, str) and task.startswith(LCBENCH_PREFIX):
        task = task.removeprefix(LCBENCH_PREFIX)
    frame = lcbench_curves(surrogate, task, space)
    dataset = str(frame["dataset"].iloc[0])
    backend = ReplayBackend(frame, dataset, metric=metric, space=space, seeds=(0,))
    if not np.isfinite(backend.score_bounds or (np.nan,)).all():  # pragma: no cover
        raise ValueError(f"LCBench's surrogate gave non-finite scores on {dataset}.")
    return backend
