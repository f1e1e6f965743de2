"""The MLP family tunegym tunes, and its seeded initialisation."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, cast

import torch
import torch.nn.functional as F
from torch import nn

from tunegym.errors import did_you_mean
from tunegym.training._seeding import INIT_STREAM, derived_generator

__all__ = ["ACTIVATIONS", "DEFAULT_SPEC", "MLP", "MLPSpec", "build_mlp", "dropout_mask"]

ACTIVATIONS: Final[dict[str, Callable[[torch.Tensor], torch.Tensor]]] = {
    "relu": F.relu,
    "tanh": torch.tanh,
    "gelu": F.gelu,
    "silu": F.silu,
}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class MLPSpec:
    """Architecture of a fully connected classifier.

    Attributes:
        depth: number of hidden layers (``0`` gives a linear model).
        width: units in every hidden layer.
        dropout: dropout probability after every hidden activation, in ``[0, 1)``.
        activation: hidden activation, one of ``"relu"``, ``"tanh"``, ``"gelu"``, ``"silu"``.

    Example:
        >>> MLPSpec(depth=1, width=32).width
        32
    """

    depth: int = 2
    width: int = 64
    dropout: float = 0.0
    activation: str = "relu"

    def __post_init__(self) -> None:
        if not _is_int(self.depth) or self.depth < 0:
            raise ValueError(f"MLPSpec.depth must be an int >= 0, got {self.depth!r}.")
        if not _is_int(self.width) or self.width < 1:
            raise ValueError(f"MLPSpec.width must be an int >= 1, got {self.width!r}.")
        if (
            isinstance(self.dropout, bool)
            or not isinstance(self.dropout, int | float)
            or not 0.0 <= self.dropout < 1.0
        ):
            raise ValueError(f"MLPSpec.dropout must be a float in [0, 1), got {self.dropout!r}.")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"Unknown MLPSpec.activation {self.activation!r}; expected one of "
                f"{sorted(ACTIVATIONS)}.{did_you_mean(str(self.activation), ACTIVATIONS)}"
            )


DEFAULT_SPEC: Final = MLPSpec()


class MLP(nn.Module):
    """``depth`` × (linear → activation → dropout), then a linear output layer.

    Dropout masks are drawn from the generator passed to :meth:`forward`, so a trainer that
    owns its generators keeps them out of torch's global random state.
    """

    def __init__(self, spec: MLPSpec, n_features: int, n_classes: int) -> None:
        super().__init__()
        sizes = [n_features] + [spec.width] * spec.depth + [n_classes]
        self.spec = spec
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        self._activation = ACTIVATIONS[spec.activation]

    @property
    def layers(self) -> list[nn.Linear]:
        """The linear layers, input first."""
        return [cast(nn.Linear, linear) for linear in self.linears]

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Return the logits of ``x`` (shape ``(n, n_features)`` → ``(n, n_classes)``).

        Args:
            x: input features.
            generator: source of the dropout masks in training mode (torch's global generator
                when ``None``); unused when ``spec.dropout == 0`` or in eval mode.
        """
        *hidden, output = self.layers
        p = self.spec.dropout
        for linear in hidden:
            x = self._activation(linear(x))
            if p > 0.0 and self.training:
                x = x * dropout_mask(x.shape, p, x.device, generator)
        return output(x)


def dropout_mask(
    shape: torch.Size | tuple[int, ...],
    p: float,
    device: torch.device,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """An inverted-dropout mask: ``0`` with probability ``p``, else ``1 / (1 - p)``."""
    keep = torch.empty(shape, device=device).bernoulli_(1.0 - p, generator=generator)
    return keep.div_(1.0 - p)


def build_mlp(spec: MLPSpec, n_features: int, n_classes: int, *, seed: int = 0) -> MLP:
    """Build an :class:`MLP` with initial weights determined by ``seed`` alone.

    The initialisation is PyTorch's default for ``nn.Linear`` (uniform in
    ``±1/sqrt(fan_in)`` for weights and biases), drawn on the CPU from a generator derived
    from ``seed``, so the same ``(seed, spec, n_features, n_classes)`` gives the same weights
    on every device and whatever the learning rate or batch size.

    Args:
        spec: the architecture.
        n_features: input width.
        n_classes: output width (number of classes).
        seed: initialisation seed (``>= 0``).

    Returns:
        The model, on the CPU, in training mode.

    Example:
        >>> model = build_mlp(MLPSpec(depth=1, width=8), n_features=4, n_classes=3, seed=0)
        >>> model(torch.zeros(2, 4)).shape
        torch.Size([2, 3])
    """
    if not _is_int(n_features) or n_features < 1:
        raise ValueError(f"n_features must be an int >= 1, got {n_features!r}.")
    if not _is_int(n_classes) or n_classes < 1:
        raise ValueError(f"n_classes must be an int >= 1, got {n_classes!r}.")
    model = MLP(spec, n_features, n_classes)
    generator = derived_generator(seed, INIT_STREAM)
    with torch.no_grad():
        for linear in model.layers:
            bound = 1.0 / math.sqrt(linear.in_features)
            linear.weight.uniform_(-bound, bound, generator=generator)
            linear.bias.uniform_(-bound, bound, generator=generator)
    return model
