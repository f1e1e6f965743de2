"""The spaces tunegym ships: the v1 env's learning rate × batch size and LCBench's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tunegym.errors import did_you_mean
from tunegym.space._params import Float, Int
from tunegym.space._space import Space

__all__ = [
    "FINE_TUNE",
    "FINE_TUNE_SPACE",
    "LCBENCH_SPACE",
    "LEARNING_RATE_NAMES",
    "LR_BS_SPACE",
    "SPACES",
    "get_space",
    "learning_rate_of",
]

LEARNING_RATE_NAMES: Final = ("lr", "learning_rate")
"""The names the built-in spaces give the learning rate (the grid's, then LCBench's)."""


def learning_rate_of(config: Mapping[str, Any]) -> float | None:
    """A configuration's learning rate under either name, ``None`` where it has none."""
    value = next((config[n] for n in LEARNING_RATE_NAMES if n in config), None)
    return None if value is None else float(value)


LR_BS_SPACE: Final = Space(
    (Float("lr", 1e-5, 10.0, log=True), Int("batch_size", 16, 512, log=True)),
    name="lr-bs",
)
"""The span of the v1 env's grid: learning rates 1e-5..10 and batch sizes 16..512, both log.

Its unit coordinates of the grid's values are the env's observation features of them.
"""

# LCBench (Zimmer et al., 2021) as in its ConfigSpace JSON, without the task id and the epoch,
# and with that file's float noise (0.00010000000000000009) rounded off. Written out rather than
# read so that importing tunegym reads no files.
LCBENCH_SPACE: Final = Space(
    (
        Int("batch_size", 16, 512, log=True),
        Float("learning_rate", 1e-4, 1e-1, log=True),
        Float("max_dropout", 0.0, 1.0),
        Int("max_units", 64, 1024, log=True),
        Float("momentum", 0.1, 0.99),
        Int("num_layers", 1, 5),
        Float("weight_decay", 1e-5, 0.1),
    ),
    name="lcbench",
)
"""LCBench's seven hyperparameters (batch size, learning rate, dropout, width, momentum, depth,
weight decay), under LCBench's names and bounds."""

FINE_TUNE: Final = "fine_tune"
"""The hyperparameter that says where a trial starts: 0 from scratch, 1 from a pre-trained
model (a checkpoint of the model zoo, fine-tuned)."""

FINE_TUNE_SPACE: Final = Space((*LCBENCH_SPACE.params, Int(FINE_TUNE, 0, 1)), name="lcbench+ft")
"""LCBench's seven hyperparameters and `FINE_TUNE`: the space of a search that may fine-tune.

A fine-tuning candidate (``fine_tune=1``) keeps the pre-trained model's network (its
``num_layers``, ``max_units``, ``max_dropout``) and tunes how it trains on. ``fine_tune`` sits
at 0 (scratch) or 1 in the unit cube, so a scratch candidate has the coordinates it has in
`LCBENCH_SPACE` plus a 0."""

SPACES: Final[dict[str, Space]] = {
    space.name: space for space in (LR_BS_SPACE, LCBENCH_SPACE, FINE_TUNE_SPACE)
}
"""The built-in spaces by name."""


def get_space(name: str) -> Space:
    """The built-in space called ``name`` (see `SPACES`).

    Raises:
        ValueError: for an unknown name, with the close ones.

    Example:
        >>> get_space("lcbench").dim
        7
    """
    try:
        return SPACES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown space {name!r}; built-in spaces are {sorted(SPACES)}."
            + did_you_mean(str(name), SPACES)
        ) from None
