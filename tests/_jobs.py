"""Jobs for the parallel tests, in a module light to import: workers import it to run them."""

from __future__ import annotations

import os
import time
from pathlib import Path


def square_unless_three(x: int) -> int:
    if x == 3:
        raise ValueError(f"three is not welcome, got {x}")
    return x * x


def sleep_then_mark(job: tuple[float, str]) -> float:
    seconds, marker = job
    time.sleep(seconds)
    Path(marker).touch()
    return seconds


def die(_: object) -> None:
    os._exit(3)


def environment(_: object) -> tuple[str | None, int]:
    import torch

    return os.environ.get("PYTHONHASHSEED"), torch.get_num_threads()


def nothing(job: int) -> int:
    return job
