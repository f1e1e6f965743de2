"""`tunegym metastore`: stats, import, export, neighbours, with their errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunegym.cli import app
from tunegym.data import load_dataset
from tunegym.envs import SearchSpace, record_curves, write_curves
from tunegym.metastore import MetaStore

runner = CliRunner()
SPACE = SearchSpace(lrs=(1e-3, 3e-2), batch_sizes=(16,), max_epochs=2)


@pytest.mark.parametrize(
    "args",
    [
        ["metastore", "--help"],
        ["metastore", "stats", "--help"],
        ["metastore", "import", "--help"],
        ["metastore", "import", "openml", "--help"],
        ["metastore", "import", "lcdb", "--help"],
        ["metastore", "import", "parquet", "--help"],
        ["metastore", "import", "curves", "--help"],
        ["metastore", "export", "--help"],
        ["metastore", "neighbors", "--help"],
    ],
)
def test_help(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_curves_in_stats_neighbors_export_import(tmp_path: Path) -> None:
    store = str(tmp_path / "ms.sqlite")
    for spec in ("sklearn:iris", "sklearn:breast_cancer"):
        path = write_curves(
            record_curves(load_dataset(spec), SPACE, seeds=(0,)), tmp_path / "c.parquet"
        )
        result = runner.invoke(app, ["metastore", "import", "curves", str(path), "--store", store])
        assert result.exit_code == 0, result.output
        assert "stored 2 runs" in result.output
    result = runner.invoke(app, ["metastore", "stats", "--store", store])
    assert result.exit_code == 0, result.output
    assert "runs from local" in result.output
    result = runner.invoke(
        app, ["metastore", "neighbors", "sklearn:wine", "--k", "1", "--store", store]
    )
    assert result.exit_code == 0, result.output
    assert "sklearn:iris" in result.output
    assert "search box" in result.output
    result = runner.invoke(app, ["metastore", "export", str(tmp_path / "out"), "--store", store])
    assert result.exit_code == 0, result.output
    other = str(tmp_path / "other.sqlite")
    result = runner.invoke(
        app, ["metastore", "import", "parquet", str(tmp_path / "out"), "--store", other]
    )
    assert result.exit_code == 0, result.output
    with MetaStore(other) as copy:
        assert copy.stats().runs == 4
        assert set(copy.datasets()["spec"]) == {"sklearn:iris", "sklearn:breast_cancer"}


def test_errors_are_clear(tmp_path: Path) -> None:
    store = str(tmp_path / "ms.sqlite")
    result = runner.invoke(
        app, ["metastore", "neighbors", "sklearn:wine", "--store", store, "--no-snapshot"]
    )
    assert result.exit_code == 2
    assert "no dataset with both curves" in result.output
    assert "snapshot was left out" in " ".join(result.output.split())
    result = runner.invoke(
        app, ["metastore", "import", "curves", str(tmp_path / "none.parquet"), "--store", store]
    )
    assert result.exit_code == 2
    assert "No curve file" in result.output
    result = runner.invoke(app, ["metastore", "stats", "--store", "nosuchdb://x"])
    assert result.exit_code == 2
    assert "Invalid meta-store URL" in result.output
