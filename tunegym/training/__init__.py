"""Torch models, the trainer (checkpoint/resume), the batched trainer and metrics.

Example:
    >>> from tunegym.data import load_dataset
    >>> from tunegym.training import MLPSpec, TrainConfig, Trial
    >>> dataset = load_dataset("sklearn:iris")
    >>> trial = Trial(dataset, TrainConfig(lr=1e-2, batch_size=16, max_epochs=20), MLPSpec())
    >>> [record.epoch for record in trial.train(4)]
    [1, 2, 3, 4]

LCBench's family (SGD with momentum on a funnel MLP):
    >>> config, spec = lcbench_trial_config(
    ...     {"batch_size": 16, "learning_rate": 0.01, "momentum": 0.9, "weight_decay": 1e-4,
    ...      "num_layers": 2, "max_units": 64, "max_dropout": 0.2}, max_epochs=20)
    >>> [record.epoch for record in Trial(dataset, config, spec).train(2)]
    [1, 2]
"""

from tunegym.training._batched import BatchedTrial
from tunegym.training._config import OPTIMIZERS, TrainConfig
from tunegym.training._lcbench import LCBENCH_RANGES, lcbench_trial_config
from tunegym.training._metrics import (
    accuracy,
    balanced_accuracy,
    f1_macro,
    precision_macro,
    recall_macro,
)
from tunegym.training._model import (
    MLP,
    FunnelSpec,
    MLPSpec,
    ModelSpec,
    build_mlp,
    spec_from_dict,
    spec_to_dict,
)
from tunegym.training._records import METRICS, EpochRecord
from tunegym.training._transfer import (
    PROBE_L2,
    PROBE_RIDGE,
    probe_accuracy,
    probe_head,
    transfer_state,
)
from tunegym.training._trial import TrainResult, Trial, train

__all__ = [
    "LCBENCH_RANGES",
    "METRICS",
    "MLP",
    "OPTIMIZERS",
    "PROBE_L2",
    "PROBE_RIDGE",
    "BatchedTrial",
    "EpochRecord",
    "FunnelSpec",
    "MLPSpec",
    "ModelSpec",
    "TrainConfig",
    "TrainResult",
    "Trial",
    "accuracy",
    "balanced_accuracy",
    "build_mlp",
    "f1_macro",
    "lcbench_trial_config",
    "precision_macro",
    "probe_accuracy",
    "probe_head",
    "recall_macro",
    "spec_from_dict",
    "spec_to_dict",
    "train",
    "transfer_state",
]
