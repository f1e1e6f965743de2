"""The meta-store benchmark script runs end to end in its quick mode."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "experiments" / "bench_metastore.py"


def test_bench_script_runs_quick(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("bench_metastore", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, bench)  # dataclasses look their module up
    spec.loader.exec_module(bench)
    args = bench.parse_args(["--quick", "--out-dir", str(tmp_path)])
    assert (args.datasets, args.epochs) == (3, 3)
    result = bench.run(args)
    # 3 datasets × 13 lrs × 3 batch sizes × 2 seeds; the 9 diverging runs stop at epoch 2.
    assert result["runs"] == 3 * 78
    assert result["evaluation_rows"] == 3 * (69 * (3 + 1) * 7 + 9 * (2 + 1) * 7)
    assert result["curves_rows"] == 69 * 3 + 9 * 2
    assert result["insert_rows_per_second"] > 0
    assert result["imported_evaluation_rows"] == result["evaluation_rows"]
    assert json.loads((tmp_path / "bench_metastore.json").read_text()) == result
    assert "rows/s" in bench.format_table(result)
