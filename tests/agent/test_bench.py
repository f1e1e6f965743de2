"""The benchmark (tunegym.bench._harness, ``tunegym bench``) on the tiny meta-dataset."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tunegym.agent import MetaDataset
from tunegym.bench._harness import BenchConfig, checkpoints, regenerate, run_benchmark, summarise
from tunegym.cli import app

from .conftest import BUDGET

PARTS = {
    "sklearn:iris": "meta-train",
    "sklearn:wine": "meta-val",
    "sklearn:breast_cancer": "meta-test",
}


@pytest.fixture(scope="module")
def held_out(meta: MetaDataset) -> MetaDataset:
    return MetaDataset.from_curves(meta.curves, PARTS, meta.features)


def test_curves_and_summary(held_out: MetaDataset, agent_dir: Path) -> None:
    curves = run_benchmark(
        ["random", "hyperband"], ["sklearn:breast_cancer"], [0, 1], BUDGET,
        agent=str(agent_dir), data=held_out,
    )  # fmt: skip
    assert len(curves) == 2 * 1 * 2 * len(checkpoints(BUDGET))
    assert curves["regret"].between(0, 1).all()
    summary = summarise(curves)
    assert list(summary["method"]) == ["random", "hyperband"]
    for column in ("regret_10", "regret_100_lo", "regret_100_hi", "rank", "auc", "speedup",
                   "test_score", "decision_ms_per_step"):  # fmt: skip
        assert column in summary
    assert summary.set_index("method").loc["random", "speedup"] == pytest.approx(1.0)


def test_cli_help() -> None:
    result = CliRunner().invoke(app, ["bench", "--help"])
    assert result.exit_code == 0 and "--live" in result.output and "--suite" in result.output


def test_quick_run_writes_files(held_out: MetaDataset, agent_dir: Path, tmp_path: Path) -> None:
    config = BenchConfig(
        quick=True, out=str(tmp_path / "b"), figures=str(tmp_path / "f"),
        doc=str(tmp_path / "BENCHMARKS.md"), agent=str(agent_dir), budget=BUDGET,
    )  # fmt: skip
    summary = regenerate(config, "tunegym bench --quick", held_out)
    assert set(summary["method"]) == {"random", "hyperband"}
    assert len(pd.read_csv(tmp_path / "b" / "curves.csv")) > 0
    assert (tmp_path / "b" / "summary.csv").exists()
    assert (tmp_path / "f" / "bench_regret.png").exists()
    assert (tmp_path / "f" / "bench_rank.png").exists()
    assert "tunegym bench --quick" in (tmp_path / "BENCHMARKS.md").read_text()
