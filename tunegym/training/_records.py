"""Per-epoch training records and how they are built from on-device metrics."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from tunegym.errors import did_you_mean
from tunegym.training._metrics import EVAL_COLUMNS

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
    "val_f1_macro": True,
    "val_precision_macro": True,
    "val_recall_macro": True,
    "test_f1_macro": True,
    "test_precision_macro": True,
    "test_recall_macro": True,
}

# Values per split that `make_record` takes after ``train_loss``: the columns of
# `EvalSplit.evaluate` (loss, accuracy, balanced accuracy, macro F1, precision, recall).
_N_SPLIT: Final = len(EVAL_COLUMNS)


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch of one trial produced.

    A diverged epoch (non-finite loss or weights) carries the worst scores: every loss is
    ``math.inf`` and every other score ``0.0`` (``inf`` rather than ``nan`` so that comparisons
    and minima over records stay meaningful).

    The macro scores follow scikit-learn's ``average="macro", zero_division=0``: the unweighted
    mean over the classes present in the labels or the predictions. They come last and default
    to ``None`` so that records saved before tunegym computed them still load
    (``EpochRecord(**old_dict)``); every record tunegym trains now has the validation ones.

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
        val_f1_macro: validation macro F1 after the epoch (``None`` only in older records).
        val_precision_macro: validation macro precision (``None`` only in older records).
        val_recall_macro: validation macro recall (``None`` only in older records).
        test_f1_macro: as ``val_f1_macro`` on the test split, or ``None``.
        test_precision_macro: as ``val_precision_macro`` on the test split, or ``None``.
        test_recall_macro: as ``val_recall_macro`` on the test split, or ``None``.
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
    val_f1_macro: float | None = None
    val_precision_macro: float | None = None
    val_recall_macro: float | None = None
    test_f1_macro: float | None = None
    test_precision_macro: float | None = None
    test_recall_macro: float | None = None


def make_record(
    epoch: int,
    values: Sequence[float],
    seconds: float,
    *,
    has_test: bool,
    weights_finite: bool,
) -> EpochRecord:
    """Build a record from ``[train_loss, *val, *test]``.

    ``val`` and ``test`` (``has_test`` only) are the six columns of ``EvalSplit.evaluate``:
    loss, accuracy, balanced accuracy, macro F1, macro precision, macro recall.

    The epoch diverged when any loss is not finite or ``weights_finite`` is false; its scores
    are then replaced by the worst ones.

    Raises:
        ValueError: if ``values`` does not hold one value per metric.
    """
    expected = 1 + _N_SPLIT * (2 if has_test else 1)
    if len(values) != expected:
        raise ValueError(
            f"make_record expects {expected} values (train loss, then {_N_SPLIT} per split), "
            f"got {len(values)}."
        )
    losses = [values[0], values[1]] + ([values[1 + _N_SPLIT]] if has_test else [])
    diverged = not weights_finite or not all(math.isfinite(v) for v in losses)
    if diverged:
        worst = [math.inf] + [0.0] * (_N_SPLIT - 1)
        values = [math.inf, *worst, *(worst if has_test else [])]
    val = list(values[1 : 1 + _N_SPLIT])
    test: list[float | None] = list(values[1 + _N_SPLIT :]) if has_test else [None] * _N_SPLIT
    return EpochRecord(
        epoch=epoch,
        train_loss=values[0],
        val_loss=val[0],
        val_accuracy=val[1],
        val_balanced_accuracy=val[2],
        test_loss=test[0],
        test_accuracy=test[1],
        test_balanced_accuracy=test[2],
        seconds=seconds,
        diverged=diverged,
        val_f1_macro=val[3],
        val_precision_macro=val[4],
        val_recall_macro=val[5],
        test_f1_macro=test[3],
        test_precision_macro=test[4],
        test_recall_macro=test[5],
    )


def best_record(history: Sequence[EpochRecord], metric: str = "val_accuracy") -> EpochRecord | None:
    """The record with the best ``metric`` (the earliest on ties), or ``None`` if empty.

    Args:
        history: records to choose from.
        metric: one of :data:`METRICS`; losses are minimised, the other scores maximised.

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
            hint = (
                "train with eval_test=True to get it"
                if metric.startswith("test_")
                else "these records predate it; retrain to get it"
            )
            raise ValueError(f"Metric {metric!r} was not recorded (epoch {record.epoch}); {hint}.")
        if best is None or sign * value > best_score:
            best, best_score = record, sign * value
    return best
