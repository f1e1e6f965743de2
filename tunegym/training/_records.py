"""Per-epoch training records and how they are built from on-device metrics."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from tunegym.errors import did_you_mean

__all__ = ["METRICS", "EpochRecord", "best_record", "make_record"]

# Every metric a record holds, mapped to whether larger is better.
METRICS: Final[dict[str, bool]] = {
    "train_loss": False,
    "val_loss": False,
    "val_accuracy": True,
    "val_balanced_accuracy": True,
    "test_loss": False,
    "test_accuracy": True,
    "test_balanced_accuracy": True,
}


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch of one trial produced.

    A diverged epoch (non-finite loss or weights) carries the worst scores: every loss is
    ``math.inf`` and every accuracy ``0.0`` (``inf`` rather than ``nan`` so that comparisons and
    minima over records stay meaningful).

    Attributes:
        epoch: 1-based epoch number.
        train_loss: mean training-mode cross-entropy over the epoch's minibatches.
        val_loss: mean cross-entropy on the validation split after the epoch.
        val_accuracy: validation accuracy after the epoch.
        val_balanced_accuracy: validation balanced accuracy (mean recall over the classes
            present) after the epoch.
        test_loss: as ``val_loss`` on the test split, or ``None`` when not evaluated.
        test_accuracy: as ``val_accuracy`` on the test split, or ``None``.
        test_balanced_accuracy: as ``val_balanced_accuracy`` on the test split, or ``None``.
        seconds: wall time of the epoch's training and evaluation.
        diverged: whether the trial diverged in this epoch (and stopped).
    """

    epoch: int
    train_loss: float
    val_loss: float
    val_accuracy: float
    val_balanced_accuracy: float
    test_loss: float | None
    test_accuracy: float | None
    test_balanced_accuracy: float | None
    seconds: float
    diverged: bool


def make_record(
    epoch: int,
    values: Sequence[float],
    seconds: float,
    *,
    has_test: bool,
    weights_finite: bool,
) -> EpochRecord:
    """Build a record from ``[train_loss, val_loss, val_acc, val_bacc(, test ×3)]``.

    The epoch diverged when any loss is not finite or ``weights_finite`` is false; its scores
    are then replaced by the worst ones.
    """
    losses = [values[0], values[1]] + ([values[4]] if has_test else [])
    diverged = not weights_finite or not all(math.isfinite(v) for v in losses)
    if diverged:
        values = [math.inf, math.inf, 0.0, 0.0, math.inf, 0.0, 0.0]
    return EpochRecord(
        epoch=epoch,
        train_loss=values[0],
        val_loss=values[1],
        val_accuracy=values[2],
        val_balanced_accuracy=values[3],
        test_loss=values[4] if has_test else None,
        test_accuracy=values[5] if has_test else None,
        test_balanced_accuracy=values[6] if has_test else None,
        seconds=seconds,
        diverged=diverged,
    )


def best_record(history: Sequence[EpochRecord], metric: str = "val_accuracy") -> EpochRecord | None:
    """The record with the best ``metric`` (the earliest on ties), or ``None`` if empty.

    Args:
        history: records to choose from.
        metric: one of :data:`METRICS`; losses are minimised, accuracies maximised.

    Raises:
        ValueError: for an unknown metric, or a test metric that was not recorded.
    """
    if metric not in METRICS:
        raise ValueError(
            f"Unknown metric {metric!r}; expected one of {list(METRICS)}."
            f"{did_you_mean(metric, METRICS)}"
        )
    if not history:
        return None
    sign = 1.0 if METRICS[metric] else -1.0
    best: EpochRecord | None = None
    best_score = -math.inf
    for record in history:
        value = getattr(record, metric)
        if value is None:
            raise ValueError(
                f"Metric {metric!r} was not recorded; train with eval_test=True to get it."
            )
        if best is None or sign * value > best_score:
            best, best_score = record, sign * value
    return best
