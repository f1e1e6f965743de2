"""`tunegym tune` and `tunegym train-agent`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sklearn.datasets import load_iris
from typer.testing import CliRunner

from tunegym.agent import AGENT_FILE, WEIGHTS_FILE, load_agent
from tunegym.cli import app

runner = CliRunner()


@pytest.mark.parametrize("command", ["tune", "train-agent"])
def test_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    if command == "tune":
        assert "--price" in result.output


def test_tune_writes_report_and_plot(tmp_path: Path) -> None:
    report, plot = tmp_path / "r.json", tmp_path / "p.png"
    args = ["tune", "--dataset", "sklearn:iris", "--budget-epochs", "8"]
    result = runner.invoke(app, [*args, "--report", str(report), "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    assert "step   1" in result.output and "best lr" in result.output
    payload = json.loads(report.read_text())
    assert payload["dataset"] == "sklearn:iris" and payload["epochs_used"] <= 8
    assert plot.stat().st_size > 10_000


def test_tune_a_csv_file_with_a_baseline(tmp_path: Path) -> None:
    frame = load_iris(as_frame=True).frame
    frame.to_csv(tmp_path / "iris.csv", index=False)
    args = ["tune", "--data", str(tmp_path / "iris.csv"), "--target", "target"]
    result = runner.invoke(app, [*args, "--method", "hyperband", "--budget-epochs", "8"])
    assert result.exit_code == 0, result.output
    assert "hyperband on" in result.output and "epochs used" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "randon"], "Did you mean 'random'"),
        (["--dataset", "sklearn:iris", "--data", "x.csv"], "not both"),
        (["--data", "x.csv"], "needs --target"),
        (["--dataset", "sklearn:iris", "--price", "-1"], "price must be a finite number >= 0"),
    ],
)
def test_tune_errors(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["tune", *args])
    assert result.exit_code == 2
    assert message in result.output.replace("\n", " ")


def test_train_agent_quick(tmp_path: Path) -> None:
    out = tmp_path / "agent"
    result = runner.invoke(app, ["train-agent", "--quick", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / AGENT_FILE).exists() and (out / WEIGHTS_FILE).exists()
    assert load_agent(out).spec.training["config"]["timesteps"] == 64


def test_tune_with_a_price_says_why_it_stopped() -> None:
    args = ["tune", "--dataset", "sklearn:iris", "--budget-epochs", "40", "--price", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.replace("│", " ").split())
    assert "price 1 a budget" in text and " stop after " in text
    assert "(stopped: the rest was not worth its price, 1 a budget)" in text
