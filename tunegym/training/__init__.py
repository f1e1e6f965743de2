"""Torch models, the trainer (checkpoint/resume), the batched trainer and metrics.

Example:
    >>> from tunegym.data import load_dataset
    >>> from tunegym.training import MLPSpec, TrainConfig, Trial
    >>> dataset = load_dataset("sklearn:iris")
    >>> trial = Trial(dataset, TrainConfig(lr=1e-2, batch_size=16, max_epochs=20), MLPSpec())
    >>> [record.epoch for record in trial.train(4)]
    [1, 2, 3, 4]
"""

from tunegym.training._batched import BatchedTrial
from tunegym.training._config import TrainConfig
from tunegym.training._metrics import (
    accuracy,
    balanced_accuracy,
    f1_macro,
    precision_macro,
    recall_macro,
)
from tunegym.training._model import MLP, MLPSpec, build_mlp
from tunegym.training._records import METRICS, EpochRecord
from tunegym.training._trial import TrainResult, Trial, train

__all__ = [
    "METRICS",
    "MLP",
    "BatchedTrial",
    "EpochRecord",
    "MLPSpec",
    "TrainConfig",
    "TrainResult",
    "Trial",
    "accuracy",
    "balanced_accuracy",
    "build_mlp",
    "f1_macro",
    "precision_macro",
    "recall_macro",
    "train",
]
