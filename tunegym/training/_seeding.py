"""Seeds for the trainer's independent random streams, derived without global state."""

from __future__ import annotations

from typing import Final

import numpy as np
import torch

__all__ = ["DROPOUT_STREAM", "INIT_STREAM", "SHUFFLE_STREAM", "derived_generator"]

INIT_STREAM: Final = 0
SHUFFLE_STREAM: Final = 1
DROPOUT_STREAM: Final = 2


def derived_generator(
    seed: int, stream: int, *keys: int, device: torch.device | str = "cpu"
) -> torch.Generator:
    """A fresh generator seeded from ``(seed, stream, *keys)`` by NumPy's ``SeedSequence``.

    Distinct streams (initialisation, shuffling, dropout) and distinct keys (the epoch) get
    statistically independent seeds, and each is a pure function of its inputs: replaying an
    epoch needs no saved generator state.
    """
    state = np.random.SeedSequence([seed, stream, *keys]).generate_state(1, np.uint64)[0]
    return torch.Generator(device=device).manual_seed(int(state) & 0x7FFF_FFFF_FFFF_FFFF)
