"""The MLP families tunegym trains (constant-width and funnel-shaped), and their seeded
initialisation."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Final, TypeAlias, cast

import torch
import torch.nn.functional as F
from torch import nn

from tunegym.errors import did_you_mean
from tunegym.training._seeding import INIT_STREAM, derived_generator

__all__ = [
    "ACTIVATIONS",
    "DEFAULT_SPEC",
    "MLP",
    "FunnelSpec",
    "MLPSpec",
    "ModelSpec",
    "build_mlp",
    "dropout_mask",
    "spec_from_dict",
    "spec_to_dict",
]

ACTIVATIONS: Final[dict[str, Callable[[torch.Tensor], torch.Tensor]]] = {
    "relu": F.relu,
    "tanh": torch.tanh,
    "gelu": F.gelu,
    "silu": F.silu,
}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_activation(owner: str, activation: str) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"Unknown {owner}.activation {activation!r}; expected one of "
            f"{sorted(ACTIVATIONS)}.{did_you_mean(str(activation), ACTIVATIONS)}"
        )


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
        _check_activation("MLPSpec", self.activation)

    def hidden_widths(self, n_classes: int) -> tuple[int, ...]:
        """Units of each hidden layer, input side first: ``width`` repeated ``depth`` times."""
        return (self.width,) * self.depth

    def hidden_dropouts(self) -> tuple[float, ...]:
        """Dropout probability after each hidden layer: ``dropout`` for every one."""
        return (self.dropout,) * self.depth


@dataclass(frozen=True)
class FunnelSpec:
    """A funnel-shaped classifier, as Auto-PyTorch's shaped MLP that LCBench trained.

    Hidden layer ``i`` (0-based) of ``L = num_layers`` has
    ``max_units - i * max(0, max_units - n_classes) / L`` units, rounded half up: the first is
    ``max_units`` wide and the widths shrink linearly towards the output width, which the
    ``(L + 1)``-th point of the line would reach (a brick of ``max_units`` when there are
    more classes than ``max_units``). Dropout follows the same funnel from ``max_dropout``
    towards 0: layer ``i`` drops with probability ``max_dropout * (L - i) / L`` (Auto-PyTorch
    scales its ``"funnel"`` neuron counts of a 1000-unit layer by ``max_dropout``; same line,
    without its integer rounding). A probability of 1 zeroes the layer's output.

    Differences from Auto-PyTorch's legacy ``ShapedMlpNet``: its ``num_layers`` counts the
    output layer (``num_layers`` of LCBench gives ``num_layers - 1`` hidden layers there, here
    ``num_layers``); it widens the first layer to the input width when that is larger, and
    skips dropout when ``max_dropout <= 0.05``; here ``max_units`` and ``max_dropout`` are
    taken as given.

    Attributes:
        num_layers: number of hidden layers (``>= 1``).
        max_units: units of the first hidden layer (``>= 1``).
        max_dropout: dropout probability after the first hidden layer, in ``[0, 1]``.
        activation: hidden activation, one of ``"relu"``, ``"tanh"``, ``"gelu"``, ``"silu"``.
        out_width: the width the funnel shrinks towards instead of the number of classes:
            a network fine-tuned on other classes keeps its pre-trained hidden widths with it.

    Example:
        >>> spec = FunnelSpec(num_layers=4, max_units=512, max_dropout=0.5)
        >>> spec.hidden_widths(n_classes=2)
        (512, 385, 257, 130)
        >>> spec.hidden_dropouts()
        (0.5, 0.375, 0.25, 0.125)
    """

    num_layers: int
    max_units: int
    max_dropout: float = 0.0
    activation: str = "relu"
    out_width: int | None = None

    def __post_init__(self) -> None:
        if self.out_width is not None and (not _is_int(self.out_width) or self.out_width < 1):
            raise ValueError(
                f"FunnelSpec.out_width must be an int >= 1 or None, got {self.out_width!r}."
            )
        if not _is_int(self.num_layers) or self.num_layers < 1:
            raise ValueError(f"FunnelSpec.num_layers must be an int >= 1, got {self.num_layers!r}.")
        if not _is_int(self.max_units) or self.max_units < 1:
            raise ValueError(f"FunnelSpec.max_units must be an int >= 1, got {self.max_units!r}.")
        if (
            isinstance(self.max_dropout, bool)
            or not isinstance(self.max_dropout, int | float)
            or not 0.0 <= self.max_dropout <= 1.0
        ):
            raise ValueError(
                f"FunnelSpec.max_dropout must be a float in [0, 1], got {self.max_dropout!r}."
            )
        _check_activation("FunnelSpec", self.activation)

    def hidden_widths(self, n_classes: int) -> tuple[int, ...]:
        """Units of each hidden layer, input side first (see the class docstring); the funnel
        shrinks towards ``out_width`` where it is set, else towards ``n_classes``."""
        towards = n_classes if self.out_width is None else self.out_width
        step = max(0.0, (self.max_units - towards) / self.num_layers)
        return tuple(math.floor(self.max_units - i * step + 0.5) for i in range(self.num_layers))

    def hidden_dropouts(self) -> tuple[float, ...]:
        """Dropout probability after each hidden layer, input side first."""
        layers = self.num_layers
        return tuple(self.max_dropout * (layers - i) / layers for i in range(layers))


ModelSpec: TypeAlias = MLPSpec | FunnelSpec
"""Any architecture :func:`build_mlp` and the trainers accept."""

DEFAULT_SPEC: Final = MLPSpec()

# The "kind" tag of spec_to_dict; MLPSpec's dicts carry none, as they always have.
_KINDS: Final[dict[str, type[MLPSpec] | type[FunnelSpec]]] = {
    "mlp": MLPSpec,
    "funnel": FunnelSpec,
}


def spec_to_dict(spec: ModelSpec) -> dict[str, Any]:
    """``spec`` as plain JSON-able data that :func:`spec_from_dict` turns back into it.

    An :class:`MLPSpec` gives ``dataclasses.asdict(spec)`` (what tunegym always stored); a
    :class:`FunnelSpec` adds ``"kind": "funnel"``.

    Example:
        >>> spec_to_dict(FunnelSpec(2, 64))
        {'kind': 'funnel', 'num_layers': 2, 'max_units': 64, 'max_dropout': 0.0, 'activation': 'relu'}
    """
    if isinstance(spec, FunnelSpec):
        fields_ = asdict(spec)
        if spec.out_width is None:  # the funnel's dicts from before out_width, unchanged
            del fields_["out_width"]
        return {"kind": "funnel", **fields_}
    if isinstance(spec, MLPSpec):
        return asdict(spec)
    raise TypeError(f"Expected an MLPSpec or a FunnelSpec, got {type(spec).__name__}: {spec!r}.")


def spec_from_dict(data: Mapping[str, Any]) -> ModelSpec:
    """The spec :func:`spec_to_dict` wrote (a dict without ``"kind"`` is an :class:`MLPSpec`).

    Raises:
        ValueError: for an unknown kind or fields, or invalid values.
    """
    fields_ = dict(data)
    kind = fields_.pop("kind", "mlp")
    if kind not in _KINDS:
        raise ValueError(
            f"Unknown model spec kind {kind!r}; expected one of {sorted(_KINDS)}."
            f"{did_you_mean(str(kind), _KINDS)}"
        )
    cls = _KINDS[kind]
    names = {f.name for f in fields(cls)}
    if unknown := sorted(set(fields_) - names):
        raise ValueError(
            f"Unknown {cls.__name__} field(s) {unknown} in {dict(data)!r}; it has {sorted(names)}."
        )
    return cls(**fields_)


class MLP(nn.Module):
    """Hidden layers of (linear → activation → dropout), then a linear output layer.

    The widths and dropout probabilities of the hidden layers are the spec's
    (``spec.hidden_widths(n_classes)``, ``spec.hidden_dropouts()``). Dropout masks are drawn
    from the generator passed to :meth:`forward`, so a trainer that owns its generators keeps
    them out of torch's global random state.

    Attributes:
        spec: the architecture.
        widths: units of each hidden layer, input side first.
        dropouts: dropout probability after each hidden layer.
    """

    def __init__(self, spec: ModelSpec, n_features: int, n_classes: int) -> None:
        super().__init__()
        self.spec = spec
        self.widths = spec.hidden_widths(n_classes)
        self.dropouts = spec.hidden_dropouts()
        sizes = [n_features, *self.widths, n_classes]
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
                when ``None``); unused for layers without dropout or in eval mode.
        """
        *hidden, output = self.layers
        for linear, p in zip(hidden, self.dropouts, strict=True):
            x = self._activation(linear(x))
            if p > 0.0 and self.training:
                x = x * dropout_mask(x.shape, p, x.device, generator)
        return output(x)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden layer's activations of ``x``, without dropout: what the output layer
        reads (``x`` itself for a network without hidden layers)."""
        for linear in self.layers[:-1]:
            x = self._activation(linear(x))
        return x


def dropout_mask(
    shape: torch.Size | tuple[int, ...],
    p: float,
    device: torch.device,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """An inverted-dropout mask: ``0`` with probability ``p``, else ``1 / (1 - p)``.

    ``p = 1`` gives zeros (as ``torch.nn.Dropout(1.0)``), drawn all the same so that the
    generator advances as for any ``p``.
    """
    keep = torch.empty(shape, device=device).bernoulli_(1.0 - p, generator=generator)
    if p >= 1.0:
        return keep.zero_()
    return keep.div_(1.0 - p)


def build_mlp(spec: ModelSpec, n_features: int, n_classes: int, *, seed: int = 0) -> MLP:
    """Build an :class:`MLP` with initial weights determined by ``seed`` alone.

    The initialisation is PyTorch's default for ``nn.Linear`` (uniform in
    ``±1/sqrt(fan_in)`` for weights and biases), drawn on the CPU from a generator derived
    from ``seed``, so the same ``(seed, spec, n_features, n_classes)`` gives the same weights
    on every device and whatever the learning rate or batch size.

    Args:
        spec: the architecture (an :class:`MLPSpec` or a :class:`FunnelSpec`).
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
    if not isinstance(spec, MLPSpec | FunnelSpec):
        raise TypeError(
            f"build_mlp takes an MLPSpec or a FunnelSpec, got {type(spec).__name__}: {spec!r}."
        )
    model = MLP(spec, n_features, n_classes)
    generator = derived_generator(seed, INIT_STREAM)
    with torch.no_grad():
        for linear in model.layers:
            bound = 1.0 / math.sqrt(linear.in_features)
            linear.weight.uniform_(-bound, bound, generator=generator)
            linear.bias.uniform_(-bound, bound, generator=generator)
    return model
