"""Torch models, the trainer (checkpoint/resume), the batched trainer and metrics.

Example:
    >>> from tunegym.training import MLPSpec, TrainConfig, Trial
    >>> trial = Trial(dataset, TrainConfig(lr=1e-3, batch_size=64, max_epochs=20), MLPSpec())
    >>> records = trial.train(4)  # doctest: +SKIP
"""

from tunegym.training._batched import BatchedTrial
from tunegym.training._config import TrainConfig
from tunegym.training._metrics import accuracy, balanced_accuracy
from tunegym.training._model import MLP, MLPSpec, build_mlp
from tunegym.training._records import EpochRecord
from tunegym.training._trial import TrainResult, Trial, train

__all__ = [
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
    "train",
]
