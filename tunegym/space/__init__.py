"""Search spaces: typed hyperparameters and the unit cube every tuner in tunegym works on.

A `Space` is an ordered tuple of `Float`, `Int` and `Categorical` hyperparameters. It checks
configurations (`Space.validate`), maps them to and from ``[0, 1]^dim`` (`Space.to_unit`,
`Space.from_unit`), samples them (`Space.sample`, Sobol by default), and converts to and from
JSON, Optuna distributions and ConfigSpace's JSON. See ``docs/SPACES.md``.

Example:
    >>> from tunegym.space import Float, Int, Space
    >>> space = Space((Float("lr", 1e-4, 1e-1, log=True), Int("batch_size", 16, 512, log=True)))
    >>> [sorted(c) for c in space.sample(2, seed=0)]
    [['batch_size', 'lr'], ['batch_size', 'lr']]
    >>> Space.from_json(space.to_json()) == space
    True
"""

from tunegym.space._builtin import (
    FINE_TUNE,
    FINE_TUNE_SPACE,
    LCBENCH_SPACE,
    LEARNING_RATE_NAMES,
    LR_BS_SPACE,
    SPACES,
    get_space,
    learning_rate_of,
)
from tunegym.space._convert import CONFIGSPACE_TYPES
from tunegym.space._params import (
    Categorical,
    Choice,
    Float,
    Hyperparameter,
    Int,
    hyperparameter_from_json,
)
from tunegym.space._space import SAMPLE_METHODS, Space

__all__ = [
    "CONFIGSPACE_TYPES",
    "FINE_TUNE",
    "FINE_TUNE_SPACE",
    "LCBENCH_SPACE",
    "LEARNING_RATE_NAMES",
    "LR_BS_SPACE",
    "SAMPLE_METHODS",
    "SPACES",
    "Categorical",
    "Choice",
    "Float",
    "Hyperparameter",
    "Int",
    "Space",
    "get_space",
    "hyperparameter_from_json",
    "learning_rate_of",
]
