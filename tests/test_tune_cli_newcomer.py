"""`tunegym tune` for a newcomer: DATASET as `train` takes it, threads through `tune`, a
progress bar on a terminal only, tables that do not cut values at 80 columns."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import torch
from rich.console import Console
from rich.progress import Progress
from sklearn.datasets import load_iris
from typer.testing import CliRunner

import tunegym.agent
from tunegym import _tune_cli
from tunegym.agent import StepRecord, TuningResult, tune
from tunegym.cli import app

runner = CliRunner()
QUICK = ["--space", "lr-bs", "--method", "random", "--budget-epochs", "8"]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """`tune`'s calls from the command, which stops there (with an error, exit 2)."""
    seen: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def fake(*args: Any, **kwargs: Any) -> TuningResult:
        seen.append((args, {k: v for k, v in kwargs.items() if k != "progress"}))
        raise ValueError("stopped before tuning")

    monkeypatch.setattr(tunegym.agent, "tune", fake)
    return seen


def call_of(args: list[str], calls: list[Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    result = runner.invoke(app, ["tune", *args])
    assert "stopped before tuning" in result.output, result.output
    return calls.pop()


def test_a_spec_as_argument_runs_as_with_dataset(calls: list[Any]) -> None:
    positional = call_of(["keel:german", *QUICK], calls)
    option = call_of(["--dataset", "keel:german", *QUICK], calls)
    assert positional == option
    assert positional[0] == ("keel:german", None)


def test_a_file_as_argument_runs_as_with_data(calls: list[Any], tmp_path: Path) -> None:
    path = tmp_path / "iris.csv"
    load_iris(as_frame=True).frame.to_csv(path, index=False)
    positional = call_of([str(path), "--target", "target", *QUICK], calls)
    option = call_of(["--data", str(path), "--target", "target", *QUICK], calls)
    assert positional == option
    assert positional[0] == (path, "target")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sklearn:iris", "--dataset", "sklearn:wine"], "not both"),
        (["iris.csv", "--data", "x.csv", "--target", "y"], "not both"),
        (["iris.csv"], "needs --target"),
    ],
)
def test_dataset_given_twice_or_a_file_without_target(
    calls: list[Any], args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["tune", *args])
    assert result.exit_code == 2 and not calls
    assert message in result.output.replace("\n", " ")


def test_threads_go_through_tune_and_leave_the_process_alone(calls: list[Any]) -> None:
    before = torch.get_num_threads()
    _, kwargs = call_of(["sklearn:iris", "--threads", "3", *QUICK], calls)
    assert kwargs["threads"] == 3
    assert torch.get_num_threads() == before  # tune sets them for the run, not the command
    assert call_of(["sklearn:iris", *QUICK], calls)[1]["threads"] == 1


def test_the_help_shows_the_dataset_argument() -> None:
    result = runner.invoke(app, ["tune", "--help"], terminal_width=100)
    assert result.exit_code == 0
    assert "[OPTIONS] [DATASET]" in result.output
    assert "tunegym tune my.csv --target y" in result.output


def test_a_terminal_gets_a_progress_bar_over_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=80, color_system=None)
    monkeypatch.setattr(_tune_cli, "console", terminal)
    result = runner.invoke(app, ["tune", "sklearn:iris", *QUICK])
    assert result.exit_code == 0, screen.getvalue()
    shown = screen.getvalue()
    assert "step   1" in shown and "best lr" in shown
    assert "/8 epochs" in shown and "eta " in shown and "━" in shown


def test_without_a_terminal_the_output_has_the_step_lines_alone() -> None:
    result = runner.invoke(app, ["tune", "sklearn:iris", *QUICK])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("tuning sklearn:iris with random")
    after_steps = [line for line in lines[1:] if not line.startswith("step ")]
    assert after_steps[0].strip().startswith("random on sklearn:iris")  # the summary next
    for bar in ("eta ", "━", "\x1b"):
        assert bar not in result.output


def record(epochs_used: int, seconds: float) -> StepRecord:
    return StepRecord(
        step=1, action=0, kind="new", trial=0, lr=1e-3, batch_size=16, epochs=1,
        trial_epochs=1, val_score=0.5, incumbent_val=0.5, epochs_used=epochs_used,
        seconds=seconds, decision_seconds=0.0,
    )  # fmt: skip


def test_the_bar_spends_epochs_or_seconds_whichever_binds_first() -> None:
    progress = Progress(console=Console(file=io.StringIO()))
    epochs = _tune_cli._TuneBar(progress, 100, None)
    assert epochs.measure(record(10, 1.0), now=0.0) == (0.1, "10/100 epochs", 9.0)
    # 10 epochs in 10 wall seconds since the first step: 1 s an epoch, 80 epochs left
    assert epochs.measure(record(20, 6.0), now=10.0) == (0.2, "20/100 epochs", 80.0)

    seconds = _tune_cli._TuneBar(progress, 100, 12.0)
    seconds.measure(record(10, 1.0), now=0.0)
    # 5 training seconds in 10 wall seconds: the 6 left take 12, before the 80 epochs do
    share, text, eta = seconds.measure(record(20, 6.0), now=10.0)
    assert (share, eta) == (0.5, 12.0)
    assert text == "20/100 epochs · 6.0/12 s"


@pytest.fixture(scope="module")
def lcbench_run() -> TuningResult:
    """A run on LCBench's space: the summary holds its whole configuration."""
    return tune("sklearn:iris", budget_epochs=8, method="random")


def summary_at(result: TuningResult, width: int) -> str:
    screen = Console(width=width, record=True, file=io.StringIO())
    screen.print(_tune_cli._summary(result))
    return screen.export_text()


def test_the_summary_shows_learning_rates_in_full_at_80_columns(lcbench_run: TuningResult) -> None:
    text = summary_at(lcbench_run, 80)
    best = lcbench_run.best
    assert best is not None and best.lr is not None
    assert any("best lr" in row and f"{best.lr:g}" in row for row in text.splitlines())
    assert f"learning_rate={best.lr:.3g}" in text
    assert "…" not in text


@pytest.mark.parametrize("width", [50, 40])
def test_a_narrow_summary_folds_rather_than_cuts(lcbench_run: TuningResult, width: int) -> None:
    text = summary_at(lcbench_run, width)
    assert "…" not in text  # it was "learning_rate=0.…" at 40 columns
    best = lcbench_run.best
    assert best is not None and best.lr is not None
    assert any("best lr" in row and f"{best.lr:g}" in row for row in text.splitlines())
