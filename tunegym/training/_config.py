"""Training hyperparameters, the learning-rate schedule, minibatch order and device choice."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import torch

from tunegym.errors import did_you_mean
from tunegym.training._seeding import SHUFFLE_STREAM, derived_generator

__all__ = ["OPTIMIZERS", "TrainConfig", "cosine_factor", "epoch_order", "resolve_device"]

# The optimisers a TrainConfig names; tunegym.training's trainers build them.
OPTIMIZERS: Final = ("adam", "sgd")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one training run.

    Attributes:
        lr: peak learning rate (the rate of the first epoch), finite and ``> 0``.
        batch_size: rows per minibatch (the last minibatch of an epoch may be smaller).
        max_epochs: length of the cosine schedule, and the most epochs the trial may train.
        seed: seeds the initial weights, the minibatch order and dropout (``>= 0``).
        weight_decay: L2 penalty added to the gradient, as ``torch.optim.Adam`` and
            ``torch.optim.SGD`` do.
        optimizer: ``"adam"`` (``torch.optim.Adam``, default betas) or ``"sgd"``
            (``torch.optim.SGD`` with ``momentum``, no dampening, no Nesterov).
        momentum: SGD's momentum, in ``[0, 1)``; must stay ``0`` with Adam, whose betas are
            fixed.

    Example:
        >>> TrainConfig(lr=1e-3, batch_size=64, max_epochs=20).seed
        0
        >>> TrainConfig(lr=1e-2, batch_size=64, max_epochs=50, optimizer="sgd", momentum=0.9)
        TrainConfig(lr=0.01, batch_size=64, max_epochs=50, seed=0, weight_decay=0.0, optimizer='sgd', momentum=0.9)
    """

    lr: float
    batch_size: int
    max_epochs: int
    seed: int = 0
    weight_decay: float = 0.0
    optimizer: str = "adam"
    momentum: float = 0.0

    def __post_init__(self) -> None:
        if not _is_real(self.lr) or not math.isfinite(self.lr) or self.lr <= 0:
            raise ValueError(f"TrainConfig.lr must be a finite number > 0, got {self.lr!r}.")
        if not _is_int(self.batch_size) or self.batch_size < 1:
            raise ValueError(
                f"TrainConfig.batch_size must be an int >= 1, got {self.batch_size!r}."
            )
        if not _is_int(self.max_epochs) or self.max_epochs < 1:
            raise ValueError(
                f"TrainConfig.max_epochs must be an int >= 1, got {self.max_epochs!r}."
            )
        if not _is_int(self.seed) or self.seed < 0:
            raise ValueError(f"TrainConfig.seed must be an int >= 0, got {self.seed!r}.")
        if (
            not _is_real(self.weight_decay)
            or not math.isfinite(self.weight_decay)
            or self.weight_decay < 0
        ):
            raise ValueError(
                f"TrainConfig.weight_decay must be a finite number >= 0, got {self.weight_decay!r}."
            )
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"Unknown TrainConfig.optimizer {self.optimizer!r}; expected one of "
                f"{list(OPTIMIZERS)}.{did_you_mean(str(self.optimizer), OPTIMIZERS)}"
            )
        if not _is_real(self.momentum) or not 0.0 <= self.momentum < 1.0:
            raise ValueError(
                f"TrainConfig.momentum must be a number in [0, 1), got {self.momentum!r}."
            )
        if self.optimizer == "adam" and self.momentum != 0:
            raise ValueError(
                f"TrainConfig.momentum={self.momentum!r} is SGD's, but optimizer='adam' (whose "
                "betas are fixed); pass optimizer='sgd', or leave momentum at 0."
            )


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def cosine_factor(epoch: int, max_epochs: int) -> float:
    """Learning-rate multiplier of 0-based ``epoch``: ``(1 + cos(pi * epoch / max_epochs)) / 2``.

    This is ``torch.optim.lr_scheduler.CosineAnnealingLR(T_max=max_epochs, eta_min=0)`` stepped
    once per epoch, in closed form: it depends on ``max_epochs`` and never on how many epochs a
    call trains, so the first ``k`` epochs of a trial are the same whatever its later budget.
    """
    return 0.5 * (1.0 + math.cos(math.pi * epoch / max_epochs))


def epoch_order(seed: int, epoch: int, n_train: int) -> torch.Tensor:
    """The shuffled row order of 0-based ``epoch``: a CPU permutation of ``range(n_train)``
    that depends only on ``(seed, epoch, n_train)``."""
    return torch.randperm(n_train, generator=derived_generator(seed, SHUFFLE_STREAM, epoch))


def resolve_device(device: str | torch.device) -> torch.device:
    """Turn ``"cpu"``, ``"cuda[:i]"`` or ``"auto"`` into a usable ``torch.device``.

    Raises:
        ValueError: for an unparsable device, or CUDA requested where it is not available.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"Unknown device {device!r}; use 'cpu', 'cuda', 'cuda:<index>' or 'auto'."
        ) from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available in this torch build or "
            "machine; use device='cpu', or device='auto' to take CUDA only when present."
        )
    return resolved
