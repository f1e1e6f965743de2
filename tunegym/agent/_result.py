"""What `tune` returns: the best configuration and model, the step history, every trial's curve."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from tunegym.data import FittedPreprocessor
from tunegym.training import MLP

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BestConfig", "StepRecord", "TrialCurve", "TuningResult"]


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
    """

    trial: int
    lr: float
    batch_size: int
    seed: int
    val_scores: tuple[float, ...]
    test_scores: tuple[float, ...]
    epochs_used: tuple[int, ...]


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
    """

    lr: float
    batch_size: int
    epochs: int
    val_score: float
    test_score: float
    trial: int
    seed: int
    max_epochs: int


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
        class_names: the label of each of the model's outputs.
        history: one record per step.
        trials: every trial's curve.
        prior: where the warm-start prior came from.
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
    class_names: tuple[str, ...]
    history: tuple[StepRecord, ...]
    trials: tuple[TrialCurve, ...]
    prior: str = "none"

    def predict_proba(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Class probabilities of raw rows (preprocessed as in training) by the best model."""
        if self.model is None or self.preprocessor is None:
            raise ValueError("This tuning run found no model (no epoch was trained).")
        features = torch.from_numpy(self.preprocessor.transform(X))
        with torch.no_grad():
            return torch.softmax(self.model(features), dim=1).numpy()

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
            "best": None if self.best is None else asdict(self.best),
            "history": [asdict(r) for r in self.history],
            "trials": [asdict(t) for t in self.trials],
        }

    def to_json(self, path: str | Path | None = None) -> str:
        """The report as JSON text, also written to ``path`` when given.

        It holds ``method``, ``dataset``, ``seed``, ``budget_epochs``, ``epochs_used``,
        ``seconds``, ``best`` (``lr``, ``batch_size``, ``epochs``, ``val_score``, ``test_score``,
        ...), ``history`` (one entry per step) and every trial's curve.
        """
        text = json.dumps(self.to_dict(), indent=2) + "\n"
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text, encoding="utf-8")
        return text
