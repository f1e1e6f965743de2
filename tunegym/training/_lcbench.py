"""LCBench's hyperparameters as a tunegym trial: SGD with momentum on a funnel MLP."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Final

from tunegym.errors import did_you_mean
from tunegym.space import LCBENCH_SPACE, Int
from tunegym.training._config import TrainConfig
from tunegym.training._model import FunnelSpec

__all__ = ["LCBENCH_RANGES", "lcbench_trial_config"]

# LCBench's search space (`tunegym.space.LCBENCH_SPACE`): name -> (lower, upper, integer), bounds
# inclusive, in the order the trainer's messages list them.
LCBENCH_RANGES: Final[Mapping[str, tuple[float, float, bool]]] = {
    name: (LCBENCH_SPACE[name].low, LCBENCH_SPACE[name].high, isinstance(LCBENCH_SPACE[name], Int))  # type: ignore[union-attr]
    for name in (
        "batch_size", "learning_rate", "momentum", "weight_decay", "num_layers", "max_units",
        "max_dropout",
    )
}  # fmt: skip

# ConfigSpace's bounds carry float noise (learning_rate's lower one is 0.00010000000000000009):
# values within this relative distance of a bound count as on it.
_SLACK: Final = 1e-9


def lcbench_trial_config(
    config: Mapping[str, float], max_epochs: int = 50, seed: int = 0
) -> tuple[TrainConfig, FunnelSpec]:
    """The trial of one LCBench configuration: its training config and its network.

    LCBench (Zimmer et al. 2021) trained each configuration for 50 epochs with SGD, momentum,
    weight decay and a cosine-annealed learning rate on Auto-PyTorch's funnel MLP; this gives
    tunegym's trial of the same family: ``TrainConfig(learning_rate, batch_size, max_epochs,
    seed, weight_decay, optimizer="sgd", momentum=momentum)`` and
    ``FunnelSpec(num_layers, max_units, max_dropout)`` (see :class:`FunnelSpec` for how it
    differs from Auto-PyTorch's network).

    Args:
        config: the 7 hyperparameters of :data:`LCBENCH_RANGES` (batch_size 16..512,
            learning_rate 1e-4..1e-1, momentum 0.1..0.99, weight_decay 1e-5..0.1, num_layers
            1..5, max_units 64..1024, max_dropout 0..1); ``batch_size``, ``num_layers`` and
            ``max_units`` are rounded to the nearest integer.
        max_epochs: length of the cosine schedule (LCBench: 50).
        seed: the trial's seed.

    Returns:
        ``(train_config, spec)``, ready for ``Trial(dataset, train_config, spec)``.

    Raises:
        TypeError: ``config`` is not a mapping, or a value is not a real number.
        ValueError: a hyperparameter is missing, unknown or out of range.

    Example:
        >>> config = {"batch_size": 64, "learning_rate": 0.01, "momentum": 0.9,
        ...           "weight_decay": 1e-4, "num_layers": 3, "max_units": 512,
        ...           "max_dropout": 0.2}
        >>> train_config, spec = lcbench_trial_config(config)
        >>> train_config.optimizer, train_config.max_epochs, spec.hidden_widths(n_classes=2)
        ('sgd', 50, (512, 342, 172))
    """
    if not isinstance(config, Mapping):
        raise TypeError(
            f"An LCBench configuration is a mapping of {list(LCBENCH_RANGES)}, got "
            f"{type(config).__name__}."
        )
    if unknown := [key for key in config if key not in LCBENCH_RANGES]:
        raise ValueError(
            f"Unknown LCBench hyperparameter(s) {unknown}; LCBench has {list(LCBENCH_RANGES)}."
            f"{did_you_mean(str(unknown[0]), LCBENCH_RANGES)}"
        )
    if missing := [name for name in LCBENCH_RANGES if name not in config]:
        raise ValueError(
            f"LCBench configuration lacks {missing}; give all of {list(LCBENCH_RANGES)}."
        )
    values = {name: _checked(name, config[name]) for name in LCBENCH_RANGES}
    train_config = TrainConfig(
        lr=values["learning_rate"],
        batch_size=int(values["batch_size"]),
        max_epochs=max_epochs,
        seed=seed,
        weight_decay=values["weight_decay"],
        optimizer="sgd",
        momentum=values["momentum"],
    )
    spec = FunnelSpec(
        num_layers=int(values["num_layers"]),
        max_units=int(values["max_units"]),
        max_dropout=values["max_dropout"],
    )
    return train_config, spec


def _checked(name: str, value: object) -> float:
    """``value`` inside ``name``'s range (clipped onto a bound it is a hair past), integers
    rounded half up."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"LCBench hyperparameter {name!r} must be a real number, got {value!r} "
            f"({type(value).__name__})."
        )
    number = float(value)
    lower, upper, integer = LCBENCH_RANGES[name]
    slack = _SLACK * max(abs(lower), abs(upper))
    if not (math.isfinite(number) and lower - slack <= number <= upper + slack):
        raise ValueError(
            f"LCBench hyperparameter {name!r} must be in [{lower:g}, {upper:g}], got {number!r}."
        )
    number = min(max(number, lower), upper)
    return float(math.floor(number + 0.5)) if integer else number
