"""The `tunegym` command: help on every subcommand, datasets, one training run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tunegym.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["datasets", "--help"],
        ["datasets", "list", "--help"],
        ["datasets", "show", "--help"],
        ["train", "--help"],
    ],
)
def test_every_command_has_help(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert "tunegym 0." in result.output


def test_datasets_list_covers_sklearn_and_all_of_keel() -> None:
    result = runner.invoke(app, ["datasets", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    specs = {r["spec"] for r in rows}
    assert {"sklearn:iris", "sklearn:digits", "keel:german", "keel:magic", "keel:yeast1"} <= specs
    assert sum(r["source"] == "keel" for r in rows) >= 143
    german = next(r for r in rows if r["spec"] == "keel:german")
    assert (german["n_rows"], german["n_classes"], german["openml_id"]) == (1000, 2, 31)


def test_datasets_list_table() -> None:
    result = runner.invoke(app, ["datasets", "list", "--source", "sklearn"])
    assert result.exit_code == 0, result.output
    assert "breast_cancer" in result.output


def test_datasets_show() -> None:
    result = runner.invoke(app, ["datasets", "show", "keel:german"])
    assert result.exit_code == 0, result.output
    assert "31" in result.output  # the OpenML id
    assert "1,000" in result.output


def test_unknown_dataset_is_a_clear_error() -> None:
    result = runner.invoke(app, ["datasets", "show", "keel:germann"])
    assert result.exit_code == 2
    assert "german" in result.output  # the "did you mean" suggestion


def test_train_prints_records_and_writes_plot_and_report(tmp_path: Path) -> None:
    plot, report = tmp_path / "curve.png", tmp_path / "r.json"
    result = runner.invoke(
        app,
        [
            "train",
            "sklearn:iris",
            "--lr",
            "0.01",
            "--batch-size",
            "16",
            "--epochs",
            "3",
            "--plot",
            str(plot),
            "--report",
            str(report),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "val acc" in result.output
    assert plot.stat().st_size > 1000
    payload = json.loads(report.read_text())
    assert [r["epoch"] for r in payload["history"]] == [1, 2, 3]
    assert payload["config"]["lr"] == 0.01


def test_train_logs_to_a_store(tmp_path: Path) -> None:
    from tunegym.metastore import MetaStore

    store = str(tmp_path / "ms.sqlite")
    args = ["train", "sklearn:iris", "--epochs", "2", "--store", store]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "logged as run" in result.output
    with MetaStore(store) as meta:
        assert meta.stats().epochs == 2


def test_train_on_a_csv_file(tmp_path: Path) -> None:
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    path = tmp_path / "iris.csv"
    frame.to_csv(path, index=False)
    result = runner.invoke(app, ["train", str(path), "--target", "target", "--epochs", "2"])
    assert result.exit_code == 0, result.output
    missing = runner.invoke(app, ["train", str(path), "--target", "nope", "--epochs", "2"])
    assert missing.exit_code == 2
    assert "nope" in missing.output
    assert isinstance(pd.read_csv(path), pd.DataFrame)


def test_train_rejects_bad_hyperparameters() -> None:
    result = runner.invoke(app, ["train", "sklearn:iris", "--lr", "-1", "--epochs", "2"])
    assert result.exit_code == 2
    assert "-1" in result.output


def test_train_diverging_run_is_reported_not_raised() -> None:
    result = runner.invoke(
        app, ["train", "sklearn:wine", "--lr", "1e20", "--batch-size", "8", "--epochs", "3"]
    )
    assert result.exit_code == 0, result.output
    assert "diverged" in result.output
