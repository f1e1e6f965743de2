"""Durability (issue 18): a killed, interrupted or store-less run keeps what it trained.

`tunegym train` keeps a checkpoint, the report and the store's run after every epoch and resumes
to exactly the epochs of an uninterrupted run; the store marks a run ``partial`` until it ends; a
failing store costs no result; `tunegym tune` killed keeps every epoch it reported in the store;
a tuning run without a model says why.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from tunegym.cli import app
from tunegym.data import load_dataset
from tunegym.errors import MetaStoreWriteError
from tunegym.metastore import MetaStore
from tunegym.training import EpochRecord, MLPSpec, TrainConfig, Trial

runner = CliRunner()

# A run slow enough to be caught in the middle (batch size 1: 90 steps an epoch on iris).
EPOCHS = 30
TRAIN = ["train", "sklearn:iris", "--batch-size", "1", "--epochs", str(EPOCHS)]
# Startup (imports) takes seconds on a loaded machine; a healthy run is caught well within this.
DEADLINE_S = 60.0


def _spawn(args: list[str], cwd: Path, stdout: int | None = None) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",  # as the suite's torch.set_num_threads(1): same numbers, fast
        "COLUMNS": "200",
        "PYTHONUNBUFFERED": "1",
        "TUNEGYM_CHECKPOINTS": str(cwd / "checkpoints"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tunegym.cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL if stdout is None else stdout,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_until(process: subprocess.Popen[str], done: Callable[[], bool]) -> None:
    """Poll ``done`` until it holds; fail (and kill the process) if it exits or takes too long."""
    deadline = time.monotonic() + DEADLINE_S
    while not done():
        if process.poll() is not None:
            _, err = process.communicate()
            pytest.fail(f"the run ended (code {process.returncode}) before the check: {err}")
        if time.monotonic() > deadline:
            process.kill()
            process.communicate()
            pytest.fail(f"nothing after {DEADLINE_S} s")
        time.sleep(0.01)


def _report(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))  # written atomically: whole or none
    except FileNotFoundError:
        return None


def _epochs_in(path: Path) -> int:
    report = _report(path)
    return 0 if report is None else int(report["epochs_done"])


def _runs(store: str) -> list[tuple[str, int]]:
    """(status, epochs stored) of every run in the store, read back from its tables."""
    from sqlalchemy import func, select

    from tunegym.metastore._schema import Evaluation, Run

    query = (
        select(Run.status, func.coalesce(func.max(Evaluation.epoch), 0))
        .outerjoin(Evaluation, Evaluation.run_id == Run.id)
        .group_by(Run.id)
        .order_by(Run.id)
    )
    with MetaStore(store) as meta, meta.engine.connect() as connection:
        return [(str(status), int(epochs)) for status, epochs in connection.execute(query)]


def _without_seconds(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def _uninterrupted(epochs: int = EPOCHS, batch_size: int = 1) -> list[dict[str, Any]]:
    dataset = load_dataset("sklearn:iris", seed=0)
    trial = Trial(dataset, TrainConfig(3e-3, batch_size, epochs, seed=0), MLPSpec(), eval_test=True)
    return _without_seconds([asdict(r) for r in trial.train(epochs)])


# --------------------------------------------------------------------------- train, killed


def test_a_killed_train_run_keeps_its_epochs_and_resumes_to_the_uninterrupted_run(
    tmp_path: Path,
) -> None:
    report, store = tmp_path / "run.json", str(tmp_path / "runs.sqlite")
    process = _spawn([*TRAIN, "--store", store, "--report", str(report)], tmp_path)
    _wait_until(process, lambda: _epochs_in(report) >= 8)
    process.send_signal(signal.SIGKILL)
    process.communicate()

    kept = _report(report)
    assert kept is not None and kept["status"] == "running"
    done = kept["epochs_done"]
    assert 8 <= done < EPOCHS, "the kill must land in the middle of the run"
    assert [r["epoch"] for r in kept["history"]] == list(range(1, done + 1))
    assert (tmp_path / "run.trial.pt").is_file()
    ((status, stored),) = _runs(store)  # logged after every epoch, after the report
    assert status == "partial" and stored in (done - 1, done)

    resumed = runner.invoke(app, ["train", "--resume", str(report), "--store", store])
    assert resumed.exit_code == 0, resumed.output
    assert "resuming at epoch" in resumed.output
    final = _report(report)
    assert final is not None and final["status"] == "finished"
    assert _without_seconds(final["history"]) == _uninterrupted()
    assert _runs(store) == [("ok", EPOCHS)]  # the same run, now whole and ended
    assert not (tmp_path / "run.trial.pt").exists()


def test_ctrl_c_writes_an_interrupted_report_and_says_how_to_resume(tmp_path: Path) -> None:
    report, store = tmp_path / "run.json", str(tmp_path / "runs.sqlite")
    process = _spawn([*TRAIN, "--store", store, "--report", str(report)], tmp_path)
    _wait_until(process, lambda: _epochs_in(report) >= 3)
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    assert process.returncode == 130, err
    assert "Traceback" not in err
    kept = _report(report)
    assert kept is not None and kept["status"] == "interrupted"
    done = kept["epochs_done"]
    assert f"interrupted after epoch {done} of {EPOCHS}" in err
    assert f"continue with: tunegym train --resume {report} --store {store}" in err
    assert _runs(store) == [("partial", done)]


def _iris_records(epochs: int) -> list[EpochRecord]:
    dataset = load_dataset("sklearn:iris", seed=0)
    return Trial(dataset, TrainConfig(3e-3, 32, epochs, seed=0), MLPSpec()).train(epochs)


@pytest.fixture
def python_ctrl_c() -> Iterator[None]:
    """Python's own SIGINT handler, as in `tunegym train`, for the test (a Ray Tune run earlier
    in the suite leaves its handler installed, and `whole` hands a held Ctrl-C to whichever
    handler was there)."""
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, outer)


@pytest.mark.usefixtures("python_ctrl_c")
@pytest.mark.parametrize("presses", [1, 2])
def test_a_ctrl_c_inside_a_store_write_waits_for_it_a_second_one_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, presses: int
) -> None:
    # Raised inside the transaction, the first Ctrl-C could leave SQLite's write lock held by a
    # lost connection: the interrupted run's last log then failed as "locked" (a CI run of
    # test_ctrl_c_writes_an_interrupted_report_and_says_how_to_resume kept 2 epochs of 3).
    from tunegym.metastore import _curves

    dataset, store = load_dataset("sklearn:iris", seed=0), str(tmp_path / "runs.sqlite")
    config, records = TrainConfig(3e-3, 32, 3, seed=0), _iris_records(3)
    real = _curves.store_runs

    def pressed(session: Any, runs: Any) -> list[int]:
        for _ in range(presses):
            signal.raise_signal(signal.SIGINT)
        return real(session, runs)

    with MetaStore(store) as meta:
        meta.log_trial(dataset, config, MLPSpec(), records[:2], finished=False)
        monkeypatch.setattr(_curves, "store_runs", pressed)
        with pytest.raises(KeyboardInterrupt):
            meta.log_trial(dataset, config, MLPSpec(), records, finished=False)
        monkeypatch.undo()
        assert _runs(store) == [("partial", 3 if presses == 1 else 2)]
        started = time.monotonic()
        meta.log_trial(dataset, config, MLPSpec(), records, finished=True)  # no lock left held
        assert time.monotonic() - started < 5.0
    assert _runs(store) == [("ok", 3)]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.usefixtures("python_ctrl_c")
def test_a_ctrl_c_held_by_a_write_that_fails_still_interrupts() -> None:
    from tunegym.metastore._retry import whole

    def failing_write() -> None:
        with whole():
            signal.raise_signal(signal.SIGINT)
            raise MetaStoreWriteError("the write failed")

    with pytest.raises(KeyboardInterrupt) as caught:
        failing_write()
    assert isinstance(caught.value.__context__, MetaStoreWriteError)


def test_resume_keeps_the_recorded_arguments(tmp_path: Path) -> None:
    report = tmp_path / "run.json"
    first = runner.invoke(app, ["train", "sklearn:iris", "--epochs", "2", "--report", str(report)])
    assert first.exit_code == 0, first.output
    changed = runner.invoke(app, ["train", "--resume", str(report), "--lr", "0.1"])
    assert changed.exit_code == 2
    assert "--lr 0.1 differs from the run" in changed.output
    same = runner.invoke(app, ["train", "--resume", str(report), "--epochs", "2"])
    assert same.exit_code == 0, same.output
    assert "nothing to train" in same.output
    foreign = tmp_path / "other.json"
    foreign.write_text(json.dumps({"history": []}))
    refused = runner.invoke(app, ["train", "--resume", str(foreign)])
    assert refused.exit_code == 2
    assert "not a resumable" in refused.output


# --------------------------------------------------------------------------- the store's status


def test_a_run_logged_before_its_end_is_partial_until_it_ends() -> None:
    dataset = load_dataset("sklearn:iris")
    config = TrainConfig(1e-2, 16, 4)
    records = Trial(dataset, config, eval_test=True).train(4)
    with MetaStore(":memory:") as store:
        store.log_trial(dataset, config, MLPSpec(), records[:2], finished=False)
        assert store.stats().runs_by_status == {"partial": 1}
        longer = store.log_trial(dataset, config, MLPSpec(), records, finished=False)
        assert store.stats().runs_by_status == {"partial": 1}
        assert store.log_trial(dataset, config, MLPSpec(), records) == longer  # its status only
        assert store.stats().runs_by_status == {"ok": 1}
        store.log_trial(dataset, config, MLPSpec(), records, finished=False)
        assert store.stats().runs_by_status == {"ok": 1}, "an ended run is not reopened"
        assert store.stats().epochs == 4

    wine = load_dataset("sklearn:wine")
    diverging = TrainConfig(1e20, 8, 3)
    history = Trial(wine, diverging).train(3)
    assert history[-1].diverged
    with MetaStore(":memory:") as store:
        store.log_trial(wine, diverging, MLPSpec(), history, finished=False)
        assert store.stats().runs_by_status == {"diverged": 1}  # a diverged run has ended


# --------------------------------------------------------------------------- a failing store


def _failing_log_trial(*args: Any, **kwargs: Any) -> int:
    raise MetaStoreWriteError(
        "log_trial could not write to the meta-store sqlite:///x.sqlite: database or disk is "
        "full. Check that the database is reachable, writable and a tunegym store."
    )


def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


def test_a_store_that_fails_costs_no_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report, plot, store = tmp_path / "run.json", tmp_path / "run.png", str(tmp_path / "s.sqlite")
    args = ["train", "sklearn:iris", "--epochs", "4", "--store", store]
    with monkeypatch.context() as patch:
        patch.setattr(MetaStore, "log_trial", _failing_log_trial)
        failed = runner.invoke(app, [*args, "--report", str(report), "--plot", str(plot)])
    assert failed.exit_code == 1, failed.output
    assert not isinstance(failed.exception, MetaStoreWriteError)  # no traceback
    (line,) = _error_lines(failed.stderr)
    assert "disk is full" in line
    assert f"tunegym train --resume {report} --store {store}" in line
    kept = _report(report)
    assert kept is not None and kept["status"] == "finished" and kept["epochs_done"] == 4
    assert plot.stat().st_size > 1000

    # Once the store works, the report is logged to it without training again.
    logged = runner.invoke(app, ["train", "--resume", str(report), "--store", store])
    assert logged.exit_code == 0, logged.output
    assert "nothing to train" in logged.output
    assert _runs(store) == [("ok", 4)]

    # Without --report, the records are written to the working folder before it fails.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setattr(MetaStore, "log_trial", _failing_log_trial)
    failed = runner.invoke(app, args)
    assert failed.exit_code == 1
    (written,) = elsewhere.glob("tunegym-train-*iris-*.json")
    assert f"safe in {written.name}" in _error_lines(failed.stderr)[0]
    assert _epochs_in(written) == 4


def test_a_read_only_store_is_one_line_after_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # SQLite's URI filenames leave a "file:" folder behind
    path = tmp_path / "shared.sqlite"
    MetaStore(path).close()
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    report = tmp_path / "run.json"
    args = ["train", "sklearn:iris", "--epochs", "3", "--store", read_only, "--report", str(report)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    (line,) = _error_lines(result.stderr)
    assert "readonly" in line and "shared.sqlite" in line and "--resume" in line
    assert _epochs_in(report) == 3


def test_a_store_that_cannot_be_opened_fails_before_training(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    report = tmp_path / "run.json"
    args = [
        "train",
        "sklearn:iris",
        "--epochs",
        "3",
        "--store",
        str(folder),
        "--report",
        str(report),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    (line,) = _error_lines(result.stderr)
    assert str(folder) in line and "Nothing was trained" in line
    assert not report.exists()


# --------------------------------------------------------------------------- tune


_STEP = re.compile(r"#(\d+)\s+lr .*?=\s*(\d+) ep")  # a step line: trial and its epochs


def _read_into(process: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.put(line)


def test_a_killed_tune_run_keeps_every_reported_epoch_in_the_store(tmp_path: Path) -> None:
    store = str(tmp_path / "runs.sqlite")
    args = ["tune", "--dataset", "sklearn:iris", "--store", store, "--budget-epochs", "2000"]
    process = _spawn(args, tmp_path, stdout=subprocess.PIPE)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_read_into, args=(process, lines), daemon=True).start()
    reported: dict[int, int] = {}  # trial -> its epochs, as the progress lines said

    def enough() -> bool:
        while not lines.empty():
            found = _STEP.search(lines.get())
            if found:
                reported[int(found[1])] = int(found[2])
        return sum(reported.values()) >= 40

    _wait_until(process, enough)
    process.send_signal(signal.SIGKILL)
    process.communicate()

    runs = _runs(store)
    assert sum(epochs for _, epochs in runs) >= sum(reported.values())
    assert len(runs) >= len(reported)
    # The run did not end: a trial short of E_max (50) that did not diverge is partial.
    assert {status for status, epochs in runs if epochs < 50} <= {"partial", "diverged"}
    assert any(status == "partial" for status, _ in runs)


def test_tune_marks_its_runs_ended_only_when_it_finishes(tmp_path: Path) -> None:
    from tunegym.agent import TuningInterrupted, tune
    from tunegym.envs import SearchSpace

    space = SearchSpace(lrs=(1e-2, 3e-2), batch_sizes=(16,), max_epochs=6)
    finished, stopped = str(tmp_path / "finished.sqlite"), str(tmp_path / "stopped.sqlite")
    tune("sklearn:iris", method="random", space=space, budget_epochs=8, store=finished)
    runs = _runs(finished)
    assert any(epochs < 6 for _, epochs in runs), "a trial stopped before E_max"
    assert {status for status, _ in runs} == {"ok"}

    def interrupt(step: Any) -> None:
        if step.epochs_used >= 3:
            raise KeyboardInterrupt

    with pytest.raises(TuningInterrupted):
        tune("sklearn:iris", method="random", space=space, budget_epochs=8, store=stopped,
             progress=interrupt)  # fmt: skip
    assert {status for status, _ in _runs(stopped)} == {"partial"}


# --------------------------------------------------------------------------- no model


@pytest.fixture(scope="module")
def all_diverged() -> Any:
    from tunegym.agent import tune
    from tunegym.envs import SearchSpace

    space = SearchSpace(lrs=(1e20, 1e30), batch_sizes=(8,), max_epochs=3)
    return tune("sklearn:wine", method="random", space=space, budget_epochs=6)


def test_a_run_where_every_trial_diverged_says_so(all_diverged: Any) -> None:
    assert all_diverged.model is None
    reason = all_diverged.why_no_model
    assert "every trial diverged" in reason and "1e+20, 1e+30" in reason
    assert "lower learning rates (below 1e+20)" in reason
    with pytest.raises(ValueError, match="every trial diverged"):
        all_diverged.predict_proba(np.zeros((1, 13)))


def test_tune_prints_why_it_found_no_model(
    all_diverged: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tunegym.agent

    monkeypatch.setattr(tunegym.agent, "tune", lambda *args, **kwargs: all_diverged)
    result = runner.invoke(app, ["tune", "--dataset", "sklearn:wine", "--method", "random"])
    assert result.exit_code == 0, result.output
    assert "no model: every trial diverged (6 trials, learning rates 1e+20, 1e+30)" in (
        result.stderr
    )


def test_the_report_holds_the_trainers_records(tmp_path: Path) -> None:
    report = tmp_path / "run.json"
    result = runner.invoke(app, ["train", "sklearn:iris", "--epochs", "2", "--report", str(report)])
    assert result.exit_code == 0, result.output
    kept = _report(report)
    assert kept is not None
    assert [EpochRecord(**r).epoch for r in kept["history"]] == [1, 2]
    assert _without_seconds(kept["history"]) == _uninterrupted(2, 32)
