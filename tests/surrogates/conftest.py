"""The LCBench surrogate, opened once; its tests skip (saying why) where the files are absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunegym.surrogates import LCBench, find_lcbench_dir


def lcbench_dir_or_skip() -> Path:
    """The LCBench folder, or a skip naming where it was looked for."""
    try:
        return find_lcbench_dir()
    except FileNotFoundError as exc:
        pytest.skip(f"LCBench surrogate files not found: {exc}")


@pytest.fixture(scope="session")
def lcbench_dir() -> Path:
    return lcbench_dir_or_skip()


@pytest.fixture(scope="session")
def bench(lcbench_dir: Path) -> LCBench:
    return LCBench.open(lcbench_dir)
