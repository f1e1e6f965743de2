"""Classification metrics computed in torch, on the device, without host syncs."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = [
    "EVAL_COLUMNS",
    "EvalSplit",
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "precision_macro",
    "recall_macro",
]

# The columns of `EvalSplit.evaluate`, in order (the record fields they fill, less the split).
EVAL_COLUMNS: tuple[str, ...] = (
    "loss",
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "precision_macro",
    "recall_macro",
)

# Activation elements (members × width × rows) per evaluation chunk: about 1 MiB of float32
# per layer output, which keeps the products in cache; larger chunks are slower on the CPU.
_CHUNK_ELEMENTS = 2**18


def _check_labels(y_true: torch.Tensor, y_pred: torch.Tensor) -> None:
    if y_true.ndim != 1 or y_true.shape != y_pred.shape or y_true.numel() == 0:
        raise ValueError(
            "y_true and y_pred must be non-empty 1-D tensors of the same shape, got "
            f"{tuple(y_true.shape)} and {tuple(y_pred.shape)}."
        )


def _balanced_weights(y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Per-sample weights ``1 / (support[y_i] * n_present)``: ``correct @ w`` is the mean
    recall over the classes present in ``y`` (scikit-learn's ``balanced_accuracy_score``)."""
    support = torch.bincount(y, minlength=n_classes).to(torch.float32)
    n_present = (support > 0).sum().to(torch.float32)
    return 1.0 / (support[y] * n_present)


def _confusion(y_true: torch.Tensor, y_pred: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Confusion counts ``(K, n_classes * n_classes)`` of ``K`` prediction rows ``(K, n)``.

    Entry ``t * n_classes + p`` counts the rows of true class ``t`` predicted ``p``. A
    ``scatter_add_`` into a preallocated buffer rather than ``bincount``, whose output size
    depends on the data and so costs a host sync on CUDA. Float32 counts are exact below 2**24.
    """
    index = y_true * n_classes + y_pred
    counts = torch.zeros(len(y_pred), n_classes * n_classes, device=y_pred.device)
    return counts.scatter_add_(1, index, torch.ones_like(index, dtype=counts.dtype))


def _macro_scores(counts: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Macro F1, precision and recall ``(K, 3)`` of confusion counts ``(K, C * C)``.

    scikit-learn's ``average="macro", zero_division=0``: the mean over the labels present in
    ``y_true`` or ``y_pred``, a class's score being 0 where its denominator is 0 (precision of
    a class never predicted, recall of a class absent from ``y_true``).
    """
    matrix = counts.view(-1, n_classes, n_classes)
    tp = matrix.diagonal(dim1=1, dim2=2)
    support = matrix.sum(dim=2)  # rows: true class
    predicted = matrix.sum(dim=1)
    present = (support + predicted > 0).to(counts.dtype)
    n_present = present.sum(dim=1, keepdim=True)
    per_class = torch.stack(
        [
            2 * tp / (support + predicted).clamp(min=1),
            tp / predicted.clamp(min=1),
            tp / support.clamp(min=1),
        ],
        dim=1,
    )  # (K, 3, C); tp is 0 wherever a denominator is, so the clamp gives zero_division=0
    return (per_class * present.unsqueeze(1)).sum(dim=2) / n_present


def _macro(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    _check_labels(y_true, y_pred)
    n_classes = int(torch.maximum(y_true.max(), y_pred.max())) + 1
    return _macro_scores(_confusion(y_true, y_pred.view(1, -1), n_classes), n_classes)[0]


def accuracy(y_true: torch.Tensor, y_pred: torch.Tensor) -> float:
    """Fraction of predictions equal to the true label.

    Example:
        >>> accuracy(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]))
        0.6666666865348816
    """
    _check_labels(y_true, y_pred)
    return float((y_true == y_pred).to(torch.float32).mean())


def balanced_accuracy(y_true: torch.Tensor, y_pred: torch.Tensor) -> float:
    """Mean recall over the classes present in ``y_true``.

    Equal to scikit-learn's ``balanced_accuracy_score``: a class that appears only in
    ``y_pred`` does not count in the average.

    Example:
        >>> balanced_accuracy(torch.tensor([0, 0, 0, 1]), torch.tensor([0, 0, 0, 0]))
        0.5
    """
    _check_labels(y_true, y_pred)
    n_classes = int(torch.maximum(y_true.max(), y_pred.max())) + 1
    weights = _balanced_weights(y_true, n_classes)
    return float((y_true == y_pred).to(torch.float32) @ weights)


def f1_macro(y_true: torch.Tensor, y_pred: torch.Tensor) -> float:
    """Unweighted mean of the per-class F1 over the classes in ``y_true`` or ``y_pred``.

    Equal to scikit-learn's ``f1_score(average="macro", zero_division=0)``.

    Example:
        >>> f1_macro(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 0, 0, 1]))
        0.7333333492279053
    """
    return float(_macro(y_true, y_pred)[0])


def precision_macro(y_true: torch.Tensor, y_pred: torch.Tensor) -> float:
    """Unweighted mean of the per-class precision over the classes in ``y_true`` or ``y_pred``.

    Equal to scikit-learn's ``precision_score(average="macro", zero_division=0)``: a class
    never predicted counts as precision 0.

    Example:
        >>> precision_macro(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 0, 0, 0]))
        0.25
    """
    return float(_macro(y_true, y_pred)[1])


def recall_macro(y_true: torch.Tensor, y_pred: torch.Tensor) -> float:
    """Unweighted mean of the per-class recall over the classes in ``y_true`` or ``y_pred``.

    Equal to scikit-learn's ``recall_score(average="macro", zero_division=0)``. Unlike
    :func:`balanced_accuracy`, a class that appears only in ``y_pred`` counts (as recall 0).

    Example:
        >>> recall_macro(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 2, 1, 1]))
        0.5
    """
    return float(_macro(y_true, y_pred)[2])


class EvalSplit:
    """A validation or test split with the label statistics its metrics need, precomputed."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor, n_classes: int) -> None:
        self.X = X
        self.y = y
        self.n_classes = n_classes
        self.weights = _balanced_weights(y, n_classes)

    def evaluate(
        self, forward: Callable[[torch.Tensor], torch.Tensor], row_elements: int
    ) -> torch.Tensor:
        """Score ``K`` models at once.

        Args:
            forward: maps features ``(n, n_features)`` to class-major logits
                ``(K, n_classes, n)``; called under ``torch.no_grad`` on chunks of the split.
            row_elements: activation elements one row costs (``K`` × the widest layer), which
                sizes the chunks.

        Returns:
            A ``(K, 6)`` tensor on the split's device, one row per model, the columns of
            `EVAL_COLUMNS`: mean cross-entropy, accuracy, balanced accuracy, macro F1, macro
            precision and macro recall.
        """
        sums: torch.Tensor | None = None
        counts: torch.Tensor | None = None
        chunk_rows = max(64, _CHUNK_ELEMENTS // row_elements)
        with torch.no_grad():
            for start in range(0, len(self.y), chunk_rows):
                y = self.y[start : start + chunk_rows]
                logits = forward(self.X[start : start + chunk_rows])
                loss = F.cross_entropy(logits, y.expand(len(logits), -1), reduction="none")
                pred = logits.argmax(dim=1)
                correct = (pred == y).to(torch.float32)
                confusion = _confusion(y.expand_as(pred), pred, self.n_classes)
                chunk = torch.stack(
                    [
                        loss.sum(dim=1),
                        correct.sum(dim=1),
                        correct @ self.weights[start : start + chunk_rows],
                    ],
                    dim=1,
                )
                sums = chunk if sums is None else sums + chunk
                counts = confusion if counts is None else counts + confusion
        if sums is None or counts is None:
            raise ValueError("Cannot evaluate on an empty split.")
        means = sums / torch.tensor([len(self.y), len(self.y), 1.0], device=sums.device)
        return torch.cat([means, _macro_scores(counts, self.n_classes)], dim=1)
