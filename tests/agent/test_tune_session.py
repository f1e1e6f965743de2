"""`tune` runs that are never lost: per-epoch logging, partial reports, resuming; cv; metrics."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score

from tests.agent._runs import interrupt_after, same_run
from tunegym.agent import (
    TEST_METRICS,
    TrialCurve,
    TuningInterrupted,
    plot_tuning,
    tune,
)
from tunegym.data import cv_folds
from tunegym.envs import SearchSpace
from tunegym.metastore import MetaStore
from tunegym.training import TrainConfig, Trial

SPACE = SearchSpace(lrs=(1e-3, 1e-2, 1e-1), batch_sizes=(16, 64), max_epochs=6)
ARGS = {"budget_epochs": 20, "method": "random", "space": SPACE, "seed": 3}


def test_ctrl_c_writes_a_partial_report_and_resume_finishes_without_retraining(
    tmp_path: Path,
) -> None:
    whole = tune("sklearn:wine", **ARGS)
    report = tmp_path / "run.json"
    with pytest.raises(TuningInterrupted) as caught:
        tune("sklearn:wine", **ARGS, report=report, progress=interrupt_after(3))
    partial = json.loads(report.read_text())
    assert partial["status"] == "interrupted"
    assert partial["epochs_used"] == caught.value.result.epochs_used > 0
    assert len(partial["history"]) == 3
    assert partial["arguments"]["data"] == "sklearn:wine"
    assert Path(partial["checkpoints"]).is_dir()
    first = caught.value.result.epochs_trained

    resumed = tune(resume=report)  # every argument comes from the report
    same_run(resumed, whole)
    assert resumed.epochs_resumed > 0
    assert first + resumed.epochs_trained == whole.epochs_trained  # no epoch trained twice
    final = json.loads(report.read_text())
    assert final["status"] == "finished"
    assert final["checkpoints"] is None and not Path(partial["checkpoints"]).exists()


def test_every_epoch_reaches_the_store_and_resume_from_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUNEGYM_CHECKPOINTS", str(tmp_path / "ckpt"))
    url = str(tmp_path / "ms.sqlite")
    whole = tune("sklearn:wine", **ARGS)
    with pytest.raises(TuningInterrupted) as caught:
        tune("sklearn:wine", **ARGS, store=url, progress=interrupt_after(2))
    with MetaStore(url) as store:
        assert store.stats().epochs == caught.value.result.epochs_used  # nothing lost
    resumed = tune("sklearn:wine", **ARGS, resume=url)
    same_run(resumed, whole)
    assert caught.value.result.epochs_trained + resumed.epochs_trained == whole.epochs_trained
    with MetaStore(url) as store:
        curves = store.curves("sklearn:wine")
    stored = curves.groupby(["lr", "batch_size", "seed"])["epoch"].max()
    for trial in whole.trials:  # every trial's every epoch, once
        assert stored[(trial.lr, trial.batch_size, trial.seed)] >= len(trial.val_scores)


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    code = "from tunegym.cli import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def wait_for_steps(report: Path, proc: subprocess.Popen[bytes], steps: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if len(json.loads(report.read_text())["history"]) >= steps:
                return
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"the run wrote no report of {steps} steps: {proc.communicate()[0]!r}")


@pytest.mark.parametrize(
    "sig",
    # kill -9 of a tune run is also tests/test_durability.py's, in the fast suite
    [signal.SIGINT, pytest.param(signal.SIGKILL, marks=pytest.mark.slow)],
)
def test_cli_killed_or_interrupted_resumes_from_its_report(tmp_path: Path, sig: int) -> None:
    report = tmp_path / "r.json"
    env = {**os.environ, "TUNEGYM_CHECKPOINTS": str(tmp_path / "ckpt")}
    # Four steps of 16 epochs: the signal, sent once two are in, lands before the last one.
    args = ["tune", "--dataset", "keel:phoneme", "--method", "random", "--budget-epochs", "64"]
    proc = run_cli([*args, "--report", str(report)], env)
    wait_for_steps(report, proc, 2)
    proc.send_signal(sig)
    out = proc.communicate(timeout=60)[0].decode()
    before = json.loads(report.read_text())
    if sig == signal.SIGINT:
        assert proc.returncode == 130, out
        assert before["status"] == "interrupted"
        assert "--resume" in out
    else:
        assert before["status"] == "running"  # the last step's report, whole
    done = subprocess.run(
        [sys.executable, "-c", "from tunegym.cli import main; main()", "tune", "--resume",
         str(report)], env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    after = json.loads(report.read_text())
    assert after["status"] == "finished"
    assert after["epochs_resumed"] >= before["epochs_used"]
    assert after["epochs_used"] <= 64
    decisions = [(h["kind"], h["trial"], h["epochs"], h["val_score"]) for h in after["history"]]
    assert decisions[: len(before["history"])] == [
        (h["kind"], h["trial"], h["epochs"], h["val_score"]) for h in before["history"]
    ]  # the resumed run took the same first steps


def test_cross_validation_scores_the_mean_over_folds(tmp_path: Path) -> None:
    result = tune("sklearn:wine", budget_epochs=24, method="random", space=SPACE, cv=3, seed=1)
    assert result.cv == 3 and len(result.fold_models) == 3
    assert result.epochs_used <= 24
    assert result.epochs_used == 3 * sum(len(t.val_scores) for t in result.trials)
    assert result.history[-1].epochs_used == result.epochs_used
    folds = cv_folds("sklearn:wine", n_folds=3, seed=1)
    trial = result.trials[0]
    scores = [
        [
            r.val_accuracy
            for r in Trial(ds, TrainConfig(trial.lr, trial.batch_size, 6, trial.seed)).train(
                len(trial.val_scores)
            )
        ]
        for ds in folds
    ]
    np.testing.assert_allclose(trial.val_scores, np.mean(scores, axis=0), rtol=1e-6)
    probabilities = result.predict_proba(
        __import__("sklearn.datasets", fromlist=["load_wine"]).load_wine(as_frame=True).data
    )
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert set(result.test_metrics) == set(TEST_METRICS)


def test_cross_validation_needs_a_budget_for_its_folds() -> None:
    with pytest.raises(ValueError, match="raise budget_epochs"):
        tune("sklearn:iris", budget_epochs=2, cv=3, method="random")
    with pytest.raises(ValueError, match="cv must be >= 2"):
        tune("sklearn:iris", budget_epochs=8, cv=1, method="random")


@pytest.mark.parametrize("metric", ["val_f1_macro", "val_loss", "val_balanced_accuracy"])
def test_tuning_metrics_and_every_test_metric_of_the_best_model(metric: str) -> None:
    result = tune("keel:yeast1", budget_epochs=12, method="random", space=SPACE, metric=metric)
    assert result.metric == metric and result.best is not None
    assert set(result.test_metrics) == set(TEST_METRICS)
    m = result.test_metrics
    assert 0 <= m["f1_macro"] <= 1 and m["log_loss"] > 0
    if metric == "val_loss":  # minimised: the tuner maximises exp(-loss)
        assert math.isclose(result.best.test_score, math.exp(-m["log_loss"]), rel_tol=1e-4)
    if metric == "val_f1_macro":
        assert math.isclose(result.best.test_score, m["f1_macro"], rel_tol=1e-5)


def test_the_test_metrics_are_scikit_learns_on_the_test_rows() -> None:
    from tunegym.data import load_dataset, read_table

    result = tune("sklearn:wine", budget_epochs=12, method="random", space=SPACE)
    ds = load_dataset("sklearn:wine")
    raw = read_table("sklearn:wine").features.iloc[ds.indices_test]
    predicted = result.predict_proba(raw).argmax(axis=1)
    y = ds.y_test.numpy()
    assert math.isclose(result.test_metrics["accuracy"], float(np.mean(predicted == y)))
    assert math.isclose(
        result.test_metrics["f1_macro"], f1_score(y, predicted, average="macro"), rel_tol=1e-6
    )
    assert math.isclose(result.test_metrics["accuracy"], result.best.test_score, rel_tol=1e-6)


def test_validation_peak_flags_overfitting(tmp_path: Path) -> None:
    curve = TrialCurve(
        0, 1e-2, 16, 0, (0.6, 0.8, 0.79, 0.75), (0.6, 0.8, 0.8, 0.7), (1, 2, 3, 4),
        train_loss=(1.0, 0.6, 0.4, 0.2), val_loss=(0.9, 0.5, 0.6, 0.8),
    )  # fmt: skip
    peak = curve.validation_peak()
    assert peak is not None
    assert (peak.epoch, peak.trained, peak.epochs_after) == (2, 4, 2)
    assert math.isclose(peak.val_loss_rise, 0.3) and peak.overfitting
    flat = TrialCurve(0, 1e-2, 16, 0, (0.6, 0.8), (0.6, 0.8), (1, 2), (1.0, 0.5), (0.9, 0.5))
    assert not flat.validation_peak().overfitting  # type: ignore[union-attr]

    result = tune("keel:german", budget_epochs=12, method="random", space=SPACE)
    report = json.loads(result.to_json())
    curve_out = report["best_trial_curve"]
    assert curve_out["trial"] == result.best.trial
    assert len(curve_out["train_loss"]) == len(curve_out["val_loss"]) == len(curve_out["epoch"])
    assert curve_out["validation_peak"]["epoch"] == result.best.epochs
    assert plot_tuning(result, tmp_path / "p.png").stat().st_size > 10_000


def test_cross_validated_trials_reach_the_store_as_validation_folds(tmp_path: Path) -> None:
    from tunegym.metastore import Procedure, SplitSpec

    url = str(tmp_path / "ms.sqlite")
    result = tune("sklearn:wine", budget_epochs=12, method="random", space=SPACE, cv=3, store=url)
    folds = cv_folds("sklearn:wine", n_folds=3)
    spec = SplitSpec.of_dataset(folds[1], test_size=0.2)
    assert (spec.procedure, spec.fold, spec.val_size, spec.test_size) == (
        Procedure.CV,
        1,
        None,
        0.2,
    )
    with MetaStore(url) as store:
        assert store.stats().tasks == 3
        assert store.stats().epochs == result.epochs_used


def test_tune_lcbench_space_live_and_resume(tmp_path: Path) -> None:
    report = tmp_path / "lc.json"
    args = {"budget_epochs": 12, "method": "hyperband", "space": "lcbench", "seed": 0}
    result = tune("sklearn:iris", **args, report=report)
    assert result.best is not None and set(result.best.config) >= {"num_layers", "momentum"}
    assert result.best.lr == result.best.config["learning_rate"]
    assert json.loads(report.read_text())["arguments"]["space"] == "lcbench"
    assert tune(resume=report).best == result.best  # a finished report replays to the same
    with pytest.raises(ValueError, match="acts on the lr-bs grid only"):
        tune("sklearn:iris", space="lcbench", method="agent")
    with pytest.raises(ValueError, match="Did you mean 'lcbench'"):
        tune("sklearn:iris", space="lcbnch", method="random")
