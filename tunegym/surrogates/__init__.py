"""Surrogate benchmarks: models that predict learning curves instead of training networks.

`LCBench` is YAHPO Gym's LCBench surrogate (34 OpenML tasks, 7 hyperparameters of a funnel MLP,
52 epochs), read from its ONNX model with onnxruntime (``pip install -e '.[lcbench]'``).
Importing this package loads nothing; `LCBench.open` finds the files and starts the model.
"""

from tunegym.surrogates._lcbench import (
    LCBENCH_CURVE_COLUMNS,
    LCBENCH_METRICS,
    LCBench,
    LCBenchPoint,
)
from tunegym.surrogates._lcbench_files import (
    LCBENCH_ENV,
    LCBENCH_FILES,
    LCBENCH_HYPERPARAMETERS,
    LCBENCH_MODEL_SHA256,
    LCBENCH_TASK_NAMES,
    Hyperparameter,
    find_lcbench_dir,
)

__all__ = [
    "LCBENCH_CURVE_COLUMNS",
    "LCBENCH_ENV",
    "LCBENCH_FILES",
    "LCBENCH_HYPERPARAMETERS",
    "LCBENCH_METRICS",
    "LCBENCH_MODEL_SHA256",
    "LCBENCH_TASK_NAMES",
    "Hyperparameter",
    "LCBench",
    "LCBenchPoint",
    "find_lcbench_dir",
]
