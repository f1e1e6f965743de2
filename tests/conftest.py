"""Suite-wide settings: one torch thread (tiny models run fastest that way on 2 cores)."""

from __future__ import annotations

import torch

torch.set_num_threads(1)
