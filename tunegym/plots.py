"""Figures people would rather look at than read (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tunegym.training import EpochRecord

__all__ = ["plot_learning_curves"]


def plot_learning_curves(
    records: Sequence[EpochRecord], path: str | Path, *, title: str = ""
) -> Path:
    """Plot losses and accuracies per epoch of one training run to a PNG.

    Args:
        records: the run's per-epoch records, in epoch order.
        path: where to write the PNG (parent folders are created).
        title: the figure's title.

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not records:
        raise ValueError("plot_learning_curves needs at least one epoch record, got none")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    epochs = [r.epoch for r in records]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    ax_loss.plot(epochs, [r.train_loss for r in records], marker=".", label="train loss")
    ax_loss.plot(epochs, [r.val_loss for r in records], marker=".", label="val loss")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("cross-entropy")
    ax_loss.legend()
    ax_acc.plot(epochs, [r.val_accuracy for r in records], marker=".", label="val accuracy")
    ax_acc.plot(
        epochs, [r.val_balanced_accuracy for r in records], marker=".", label="val balanced acc."
    )
    test = [r.test_accuracy for r in records]
    if all(t is not None for t in test):
        ax_acc.plot(epochs, test, marker=".", linestyle="--", label="test accuracy")
    diverged = [r.epoch for r in records if r.diverged]
    if diverged:
        ax_acc.axvline(diverged[0], color="red", linestyle=":", label="diverged")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("score")
    ax_acc.set_ylim(0, 1.02)
    ax_acc.legend(loc="lower right")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
