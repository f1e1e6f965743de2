"""The trainer benchmark script runs end to end on a tiny budget."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "experiments" / "bench_trainer.py"


def test_bench_script_runs_on_a_tiny_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("bench_trainer", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, bench)  # dataclasses look their module up
    spec.loader.exec_module(bench)
    args = bench.parse_args(
        ["--dataset", "synthetic", "--synthetic-rows", "400", "--batch-sizes", "64",
         "--batched-batch-sizes", "64", "--members", "2", "--epochs", "1",
         "--out-dir", str(tmp_path)]
    )  # fmt: skip
    result = bench.run(args)
    assert [(r["part"], r["variant"]) for r in result["rows"]] == [
        ("a", "train+val"),
        ("a", "train"),
        ("b", "K=2"),
    ]
    assert all(r["ratio"] > 0 for r in result["rows"])
    assert json.loads((tmp_path / "bench_trainer.json").read_text())["rows"] == result["rows"]
    assert len((tmp_path / "bench_trainer.csv").read_text().splitlines()) == 4
    assert len(bench.format_table(result["rows"]).splitlines()) == 2 + 3
