"""The figure of a tuning run: the incumbent against epochs spent, and every trial's curve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tunegym.agent._result import TuningResult

__all__ = ["plot_tuning"]


def plot_tuning(result: TuningResult, path: str | Path) -> Path:
    """Plot a tuning run to a PNG.

    Left: the incumbent's validation score against the epochs spent (a step curve), with each
    trial's epochs placed where they were bought, so continued trials show as their pieces.
    Middle: each trial's validation curve against its own epochs; the best epoch is starred.
    Right: the best trial's training and validation loss, with the epoch where its validation
    score stopped improving marked (overfitting shows as the validation loss rising after it).

    Args:
        result: the run (`tune`'s result).
        path: where to write the PNG (parent folders are created).

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (ax_run, ax_trials, ax_fit) = plt.subplots(
        1, 3, figsize=(16, 4.2), constrained_layout=True
    )
    cmap = plt.get_cmap("viridis", max(len(result.trials), 1))
    for curve in result.trials:
        label = f"#{curve.trial} lr={curve.lr:g} bs={curve.batch_size}"
        color = cmap(curve.trial)
        ax_run.plot(curve.epochs_used, curve.val_scores, ".", color=color, alpha=0.6)
        epochs = range(1, len(curve.val_scores) + 1)
        ax_trials.plot(epochs, curve.val_scores, marker=".", color=color, label=label)
    # The incumbent epoch by epoch (finer than steps, which may buy up to E_max epochs at once).
    points = sorted(
        (u, v) for c in result.trials for u, v in zip(c.epochs_used, c.val_scores, strict=True)
    )
    if points:
        spent, scores = zip(*points, strict=True)
        best = np.maximum.accumulate(scores)
        ax_run.step(spent, best, where="post", color="black", label="incumbent")
    if result.best is not None:
        ax_trials.plot(
            result.best.epochs, result.best.val_score, "*", color="red", ms=14, label="best epoch"
        )
    ax_run.set(
        xlabel="epochs spent",
        ylabel=f"validation {result.metric.removeprefix('val_')}",
        title=f"{result.method} on {result.dataset}: {result.epochs_used}/{result.budget_epochs} epochs",
    )
    ax_trials.set(xlabel="epoch of the trial", ylabel="validation score", title="trials")
    ax_run.legend(loc="lower right")
    if len(result.trials) <= 12:
        ax_trials.legend(loc="lower right", fontsize="small")
    _plot_fit(ax_fit, result)
    for ax in (ax_run, ax_trials, ax_fit):
        ax.grid(alpha=0.3)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot_fit(ax: Any, result: TuningResult) -> None:
    """Train vs validation loss of the best trial, its validation peak marked."""
    peak = result.validation_peak
    if result.best is None or peak is None:
        ax.set(title="best trial: no epoch trained")
        return
    curve = result.trials[result.best.trial]
    epochs = np.arange(1, len(curve.val_scores) + 1)
    if len(curve.train_loss) == len(epochs):
        ax.plot(epochs, _finite(curve.train_loss), marker=".", label="train loss")
        ax.plot(epochs, _finite(curve.val_loss), marker=".", label="validation loss")
    ax.axvline(peak.epoch, color="red", ls="--", label=f"validation peak (epoch {peak.epoch})")
    note = (
        f"{peak.epochs_after} epoch(s) after it, val loss +{peak.val_loss_rise:.3f}: overfitting"
        if peak.overfitting
        else f"{peak.epochs_after} epoch(s) trained after the peak"
    )
    ax.set(
        xlabel="epoch of the trial",
        ylabel="cross-entropy",
        title=f"best trial #{curve.trial}: {note}",
    )
    ax.title.set_fontsize("small")
    ax.legend(loc="upper right", fontsize="small")


def _finite(values: tuple[float, ...]) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(array), array, np.nan)  # a diverged epoch leaves a gap
