"""tunegym: a reinforcement-learning agent that tunes the training of neural networks.

The public API is re-exported here and imported lazily, so ``import tunegym`` (and the
``tunegym --help`` command) stays fast; torch and scikit-learn load on first use.

Example:
    >>> import tunegym
    >>> ds = tunegym.load_dataset("sklearn:iris", seed=0)
    >>> result = tunegym.train(ds, tunegym.TrainConfig(lr=3e-3, batch_size=16, max_epochs=5))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "load_dataset": "tunegym.data",
    "iter_folds": "tunegym.data",
    "list_datasets": "tunegym.data",
    "TabularDataset": "tunegym.data",
    "DatasetInfo": "tunegym.data",
    "MLPSpec": "tunegym.training",
    "TrainConfig": "tunegym.training",
    "EpochRecord": "tunegym.training",
    "Trial": "tunegym.training",
    "BatchedTrial": "tunegym.training",
    "train": "tunegym.training",
    "TuningEnv": "tunegym.envs",
    "TaskSpec": "tunegym.envs",
    "SearchSpace": "tunegym.envs",
    "make_tuning_env": "tunegym.envs",
    "MetaStore": "tunegym.metastore",
    "tune": "tunegym.agent",
    "load_agent": "tunegym.agent",
    "TunedMLPClassifier": "tunegym.agent",
    "TuningResult": "tunegym.agent",
}

__all__ = [
    "BatchedTrial",
    "DatasetInfo",
    "EpochRecord",
    "MLPSpec",
    "MetaStore",
    "SearchSpace",
    "TabularDataset",
    "TaskSpec",
    "TrainConfig",
    "Trial",
    "TunedMLPClassifier",
    "TuningEnv",
    "TuningResult",
    "__version__",
    "iter_folds",
    "list_datasets",
    "load_agent",
    "load_dataset",
    "make_tuning_env",
    "train",
    "tune",
]

if TYPE_CHECKING:
    from tunegym.agent import TunedMLPClassifier, TuningResult, load_agent, tune
    from tunegym.data import DatasetInfo, TabularDataset, iter_folds, list_datasets, load_dataset
    from tunegym.envs import SearchSpace, TaskSpec, TuningEnv, make_tuning_env
    from tunegym.metastore import MetaStore
    from tunegym.training import BatchedTrial, EpochRecord, MLPSpec, TrainConfig, Trial, train


def _register_envs() -> None:
    # The one piece of work done at import time: make ``gymnasium.make("tunegym/NNTuning-v0")``
    # work after ``import tunegym`` (the env itself is imported only when made).
    from gymnasium.envs.registration import register, registry

    if "tunegym/NNTuning-v0" not in registry:
        register(id="tunegym/NNTuning-v0", entry_point="tunegym.envs:make_tuning_env")


_register_envs()


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tunegym' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
