"""Classification metrics computed in torch, on the device, without host syncs."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = ["EvalSplit", "accuracy", "balanced_accuracy"]

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


class EvalSplit:
    """A validation or test split with the label statistics its metrics need, precomputed."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor, n_classes: int) -> None:
        self.X = X
        self.y = y
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
            A ``(K, 3)`` tensor on the split's device: mean cross-entropy, accuracy and
            balanced accuracy of each model.
        """
        sums: torch.Tensor | None = None
        chunk_rows = max(64, _CHUNK_ELEMENTS // row_elements)
        with torch.no_grad():
            for start in range(0, len(self.y), chunk_rows):
                y = self.y[start : start + chunk_rows]
                logits = forward(self.X[start : start + chunk_rows])
                loss = F.cross_entropy(logits, y.expand(len(logits), -1), reduction="none")
                correct = (logits.argmax(dim=1) == y).to(torch.float32)
                chunk = torch.stack(
                    [
                        loss.sum(dim=1),
                        correct.sum(dim=1),
                        correct @ self.weights[start : start + chunk_rows],
                    ],
                    dim=1,
                )
                sums = chunk if sums is None else sums + chunk
        if sums is None:
            raise ValueError("Cannot evaluate on an empty split.")
        return sums / torch.tensor([len(self.y), len(self.y), 1.0], device=sums.device)
