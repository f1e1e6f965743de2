"""experiments/bench_lcbench.py runs end to end on a tiny budget."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.surrogates.conftest import lcbench_dir_or_skip

SCRIPT = Path(__file__).parents[2] / "experiments" / "bench_lcbench.py"


@pytest.fixture
def script(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    lcbench_dir_or_skip()
    spec = importlib.util.spec_from_file_location("bench_lcbench", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_writes_its_report(script: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "LCBENCH.md"
    script.main(["--single-repeats", "2", "--batch", "3", "--batch-repeats", "1",
                 "--sanity-configs", "2", "--range-configs", "2", "--out", str(out)])  # fmt: skip
    report = out.read_text()
    assert "| one curve, curves() | 52 |" in report
    assert "| 3 curves batched, model call only | 156 |" in report
    assert "| 126025 | adult |" in report and "| 189909 | jungle_chess" in report
    assert "| 128 corners | 226304 |" in report
    assert "Command: `.venv/bin/python experiments/bench_lcbench.py --single-repeats 2" in report
    assert script.Args().threads == 1
