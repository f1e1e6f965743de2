"""What `tune` returns: the best configuration and model, the step history, every trial's curve."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from tunegym.data import FittedPreprocessor, TabularDataset
from tunegym.training import MLP

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd

__all__ = [
    "TEST_METRICS",
    "BestConfig",
    "StepRecord",
    "TrialCurve",
    "TuningResult",
    "ValidationPeak",
    "score_on_test",
]

# What the report gives of the best model on the test part, and whether larger is better.
TEST_METRICS: dict[str, bool] = {
    "accuracy": True,
    "balanced_accuracy": True,
    "f1_macro": True,
    "precision_macro": True,
    "recall_macro": True,
    "log_loss": False,
}


@dataclass(frozen=True)
class StepRecord:
    """One step of a tuning run.

    Attributes:
        step: 1-based step number.
        action: the action's index in the env's action space (-1 for an invalid one).
        kind: ``"new"``, ``"continue"``, ``"stop"`` or ``"invalid"``.
        trial: the trial it trained (``None`` for stop).
        lr: that trial's learning rate.
        batch_size: that trial's batch size.
        epochs: epochs trained in this step.
        trial_epochs: the trial's epochs after this step.
        val_score: the trial's validation score after its last epoch.
        incumbent_val: the best validation score so far.
        epochs_used: epochs spent so far.
        seconds: training seconds spent so far.
        decision_seconds: the tuner's own time for this step.
        pending: trials still training on other workers when this step's epochs came in
            (``workers > 1``; the step's number is the order of its decision, and steps are
            listed in the order their epochs came in).
    """

    step: int
    action: int
    kind: str
    trial: int | None
    lr: float | None
    batch_size: int | None
    epochs: int
    trial_epochs: int
    val_score: float | None
    incumbent_val: float
    epochs_used: int
    seconds: float
    decision_seconds: float
    pending: int = 0


@dataclass(frozen=True)
class TrialCurve:
    """Every epoch of one trial.

    Attributes:
        trial: its number.
        lr: learning rate.
        batch_size: batch size.
        seed: its initialisation and batch-order seed.
        val_scores: validation score per epoch.
        test_scores: test score per epoch.
        epochs_used: the run's epochs spent when each of its epochs ended.
        config: its whole configuration (the learning rate and batch size above are read from
            it; ``None`` where the space has none).
        train_loss: mean training cross-entropy per epoch (mean over folds with ``cv``).
        val_loss: validation cross-entropy per epoch (likewise).
    """

    trial: int
    lr: float | None
    batch_size: int | None
    seed: int
    val_scores: tuple[float, ...]
    test_scores: tuple[float, ...]
    epochs_used: tuple[int, ...]
    train_loss: tuple[float, ...] = ()
    val_loss: tuple[float, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)

    def validation_peak(self) -> ValidationPeak | None:
        """Where validation stopped improving (``None`` before any epoch)."""
        if not self.val_scores:
            return None
        peak = int(np.argmax(self.val_scores)) + 1  # the first best epoch
        trained = len(self.val_scores)
        loss_rise = math.nan
        if len(self.val_loss) == trained and trained > peak:
            low = min(self.val_loss[:peak])
            loss_rise = float(self.val_loss[-1] - low) if math.isfinite(low) else math.nan
        return ValidationPeak(peak, trained, trained - peak, loss_rise)

    @property
    def diverged(self) -> bool:
        """Whether its last epoch diverged (a diverged epoch's training loss is infinite)."""
        return bool(self.train_loss) and not math.isfinite(self.train_loss[-1])


@dataclass(frozen=True)
class ValidationPeak:
    """Overfitting as the report shows it: the epoch after which validation stops improving.

    Attributes:
        epoch: the trial's best validation epoch (the first of equal ones).
        trained: epochs the trial trained.
        epochs_after: epochs trained after the peak without beating it.
        val_loss_rise: validation loss at the last epoch minus its lowest up to the peak
            (positive: the loss grew again while training went on; ``nan`` when not known).
    """

    epoch: int
    trained: int
    epochs_after: int
    val_loss_rise: float

    @property
    def overfitting(self) -> bool:
        """Validation stopped improving and its loss rose after the peak."""
        return self.epochs_after > 0 and self.val_loss_rise > 0


@dataclass(frozen=True)
class BestConfig:
    """The best configuration found: the incumbent epoch.

    Attributes:
        lr: learning rate.
        batch_size: batch size.
        epochs: the epoch of its trial that scored best (train that many with ``E_max``'s
            schedule to reproduce it).
        val_score: its validation score.
        test_score: its test score.
        trial: the trial it belongs to.
        seed: that trial's seed.
        max_epochs: ``E_max``, the length of the trial's cosine schedule.
        config: the whole configuration (``lr`` and ``batch_size`` are read from it).
    """

    lr: float | None
    batch_size: int | None
    epochs: int
    val_score: float
    test_score: float
    trial: int
    seed: int
    max_epochs: int
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class TuningResult:
    """The outcome of `tune`.

    Attributes:
        method: the tuner (``"agent"`` or a baseline name).
        dataset: the dataset's name.
        seed: the run's seed (split, trial seeds, tuner).
        budget_epochs: the epoch budget.
        epochs_used: epochs spent.
        seconds: training seconds spent.
        wall_seconds: wall time of the whole call (loading and warm start included).
        decision_seconds: the tuner's own time (all steps).
        metric: the validation metric maximised.
        best: the incumbent (``None`` if no epoch beat the starting score).
        model: the network at the incumbent epoch, on the CPU in eval mode.
        preprocessor: the dataset's fitted preprocessing (raw rows -> the model's input).
        class_names: the label of each of the model's outputs, as the target held it (``int``
            for an integer target, ``str`` for text): what `predict` returns.
        history: one record per step.
        trials: every trial's curve.
        prior: where the warm-start prior came from.
        cv: the folds of cross-validation inside tuning, ``None`` for one split.
        fold_models: with ``cv``, every fold's best-epoch model with its preprocessing
            (``predict_proba`` averages them); empty otherwise.
        test_metrics: every metric of `TEST_METRICS` for the best model on the test part.
        status: ``"finished"``, ``"running"`` (a report written mid-run) or ``"interrupted"``.
        arguments: the `TuneArgs` of the run (as JSON), what ``resume=`` reads back.
        checkpoints: the folder of its trial checkpoints while they are kept, else ``None``.
        epochs_trained: fold-epochs really trained by this call.
        epochs_resumed: fold-epochs served from checkpoints of an earlier, interrupted call.
    """

    method: str
    dataset: str
    seed: int
    budget_epochs: int
    epochs_used: int
    seconds: float
    wall_seconds: float
    decision_seconds: float
    metric: str
    best: BestConfig | None
    model: MLP | None
    preprocessor: FittedPreprocessor | None
    class_names: tuple[Any, ...]
    history: tuple[StepRecord, ...]
    trials: tuple[TrialCurve, ...]
    prior: str = "none"
    cv: int | None = None
    fold_models: tuple[tuple[MLP, FittedPreprocessor | None], ...] = ()
    test_metrics: dict[str, float] = field(default_factory=dict)
    status: str = "finished"
    arguments: dict[str, Any] = field(default_factory=dict)
    checkpoints: str | None = None
    epochs_trained: int = 0
    epochs_resumed: int = 0

    def predict_proba(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Class probabilities of raw rows (preprocessed as in training) by the best model.

        With ``cv``, the mean of the fold models' probabilities (each with its own
        preprocessing, fitted on its fold's training rows).
        """
        members = self.fold_models or ((self.model, self.preprocessor),)
        probabilities = []
        for model, preprocessor in members:
            if model is None or preprocessor is None:
                raise ValueError(f"This tuning run found no model: {self.why_no_model}")
            features = torch.from_numpy(preprocessor.transform(X))
            with torch.no_grad():
                probabilities.append(torch.softmax(model(features), dim=1).numpy())
        return np.mean(probabilities, axis=0)

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The most probable class of each raw row, as a label of `class_names`.

        The labels keep the target's type (an integer target gives an ``int64`` array, text
        gives strings), so ``(result.predict(X) == y).mean()`` is the accuracy on ``(X, y)``.

        Raises:
            ValueError: the run found no model (`why_no_model` says why and what to do).
        """
        probabilities = self.predict_proba(X)
        return np.asarray(self.class_names)[probabilities.argmax(axis=1)]

    def plot(self, path: str | Path) -> Path:
        """Write a PNG of the run: the incumbent over the epochs spent, every trial's validation
        curve, and the best trial's train vs validation loss (`tunegym.agent.plot_tuning`)."""
        from tunegym.agent._plot import plot_tuning  # matplotlib only when asked

        return plot_tuning(self, path)

    @property
    def why_no_model(self) -> str | None:
        """Why the run has no model, and what to do, in a sentence (``None`` if it has one)."""
        if self.model is not None:
            return None
        trained = [t for t in self.trials if t.val_scores]
        if not trained:
            return (
                f"no epoch was trained ({self.epochs_used} of a budget of {self.budget_epochs} "
                "epochs used); raise the budget."
            )
        if all(t.diverged for t in trained):
            lrs = sorted({t.lr for t in trained if t.lr is not None})
            rates = f", learning rates {', '.join(f'{lr:g}' for lr in lrs)}" if lrs else ""
            lower = f" (below {lrs[0]:g})" if lrs else ""
            return (
                f"every trial diverged ({len(trained)} trials{rates}); search lower learning "
                f"rates{lower}."
            )
        if self.status != "finished":
            return (
                f"the run was {self.status} before the weights of its best epoch were kept; "
                "resume it to the end for its model."
            )
        return (
            f"no epoch scored above 0 on {self.metric}; check the data (the labels) and the metric."
        )

    @property
    def validation_peak(self) -> ValidationPeak | None:
        """Where the best trial's validation stopped improving (overfitting shows after it)."""
        if self.best is None:
            return None
        return self.trials[self.best.trial].validation_peak()

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (see `to_json`)."""
        return {
            "method": self.method,
            "dataset": self.dataset,
            "seed": self.seed,
            "budget_epochs": self.budget_epochs,
            "epochs_used": self.epochs_used,
            "seconds": self.seconds,
            "wall_seconds": self.wall_seconds,
            "decision_seconds": self.decision_seconds,
            "metric": self.metric,
            "prior": self.prior,
            "status": self.status,
            "cv": self.cv,
            "class_names": list(self.class_names),
            "best": None if self.best is None else asdict(self.best),
            "test_metrics": self.test_metrics,
            "best_trial_curve": self._best_curve(),
            "epochs_trained": self.epochs_trained,
            "epochs_resumed": self.epochs_resumed,
            "arguments": self.arguments,
            "checkpoints": self.checkpoints,
            "history": [asdict(r) for r in self.history],
            "trials": [asdict(t) for t in self.trials],
        }

    def _best_curve(self) -> dict[str, Any] | None:
        """The best trial's train and validation curves and its validation peak."""
        peak = self.validation_peak
        if self.best is None or peak is None:
            return None
        curve = self.trials[self.best.trial]
        return {
            "trial": curve.trial,
            "epoch": list(range(1, len(curve.val_scores) + 1)),
            "train_loss": list(curve.train_loss),
            "val_loss": list(curve.val_loss),
            "val_score": list(curve.val_scores),
            "validation_peak": asdict(peak) | {"overfitting": peak.overfitting},
        }

    def to_json(self, path: str | Path | None = None) -> str:
        """The report as JSON text, also written to ``path`` when given.

        It holds ``method``, ``dataset``, ``seed``, ``budget_epochs``, ``epochs_used``,
        ``seconds``, ``class_names`` (JSON numbers for an integer target), ``best`` (``lr``,
        ``batch_size``, ``epochs``, ``val_score``, ``test_score``, ...), ``history`` (one entry
        per step) and every trial's curve.
        """
        text = json.dumps(self.to_dict(), indent=2) + "\n"
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text, encoding="utf-8")
        return text


def score_on_test(
    members: Sequence[tuple[torch.nn.Module, object]], folds: Sequence[TabularDataset]
) -> dict[str, float]:
    """Every metric of `TEST_METRICS` on the test part, for one model per fold (averaged).

    The folds share their test rows (`tunegym.data.cv_folds`) but not their preprocessing, so
    each model scores its own fold's test features and the probabilities are averaged.
    """
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        f1_score,
        log_loss,
        precision_score,
        recall_score,
    )

    with torch.no_grad():
        probabilities = np.mean(
            [
                torch.softmax(model(fold.X_test.cpu()), dim=1).numpy().astype(np.float64)
                for (model, _), fold in zip(members, folds, strict=True)
            ],
            axis=0,
        )
    probabilities /= probabilities.sum(axis=1, keepdims=True)  # float32 softmax rounding
    y = folds[0].y_test.cpu().numpy()
    predicted = probabilities.argmax(axis=1)
    labels = list(range(folds[0].n_classes))
    macro = {"average": "macro", "zero_division": 0}
    return {
        "accuracy": float(accuracy_score(y, predicted)),
        "balanced_accuracy": float(balanced_accuracy_score(y, predicted)),
        "f1_macro": float(f1_score(y, predicted, **macro)),
        "precision_macro": float(precision_score(y, predicted, **macro)),
        "recall_macro": float(recall_score(y, predicted, **macro)),
        "log_loss": float(log_loss(y, probabilities, labels=labels)),
    }
