"""`tune`: every way to give data, agent and baselines, the budget, the best model, the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_iris

import tunegym
from tests.agent.conftest import N_SLOTS, SPACE
from tunegym.agent import StepRecord, TuningResult, plot_tuning, tune
from tunegym.data import load_dataset
from tunegym.metastore import MetaStore

REPORT_FIELDS = {
    "method",
    "dataset",
    "seed",
    "budget_epochs",
    "epochs_used",
    "seconds",
    "best",
    "history",
}
BEST_FIELDS = {"lr", "batch_size", "epochs", "val_score", "test_score"}
STEP_FIELDS = {
    "action",
    "trial",
    "lr",
    "batch_size",
    "epochs",
    "val_score",
    "incumbent_val",
    "epochs_used",
    "seconds",
}


def iris_frame() -> pd.DataFrame:
    X, y = load_iris(return_X_y=True, as_frame=True)
    return X.assign(species=y.map({0: "setosa", 1: "versicolor", 2: "virginica"}))


def check_report(result: TuningResult, path: Path, budget: int) -> dict:
    assert 0 < result.epochs_used <= budget
    assert sum(r.epochs for r in result.history) == result.epochs_used
    report = json.loads(result.to_json(path))
    assert json.loads(path.read_text()) == report
    assert set(report) >= REPORT_FIELDS
    assert report["budget_epochs"] == budget
    assert set(report["best"]) >= BEST_FIELDS
    assert len(report["history"]) == len(result.history) > 0
    for step in report["history"]:
        assert set(step) >= STEP_FIELDS
    return report


@pytest.mark.parametrize("method", ["agent", "random"])
def test_tune_a_spec(method: str, tmp_path: Path) -> None:
    steps: list[StepRecord] = []
    result = tune("sklearn:iris", budget_epochs=12, method=method, progress=steps.append)
    report = check_report(result, tmp_path / "r.json", 12)
    assert steps == list(result.history)
    assert (report["method"], report["dataset"], report["seed"]) == (method, "sklearn:iris", 0)
    assert result.prior.startswith("snapshot") == (method == "agent")


def test_tune_a_dataframe_and_arrays_with_the_agent(tmp_path: Path) -> None:
    frame = iris_frame()
    result = tune(frame, "species", budget_epochs=8, seed=1)
    check_report(result, tmp_path / "df.json", 8)
    assert result.class_names == ("setosa", "versicolor", "virginica")
    probabilities = result.predict_proba(frame.drop(columns="species"))
    assert probabilities.shape == (150, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)

    X, y = load_iris(return_X_y=True)
    arrays = tune((X, y), budget_epochs=8, method="random")
    check_report(arrays, tmp_path / "xy.json", 8)
    assert arrays.dataset == "array"


def test_model_is_the_best_epoch_even_after_its_trial_went_on(tmp_path: Path) -> None:
    # Random search trains full E_max trials: the best epoch is rarely a trial's last one.
    result = tune("sklearn:wine", budget_epochs=40, method="random", seed=2)
    best = result.best
    assert best is not None and result.model is not None
    curve = result.trials[best.trial]
    assert curve.val_scores[best.epochs - 1] == best.val_score == result.history[-1].incumbent_val
    assert len(curve.val_scores) > best.epochs  # trained past its best epoch
    ds = load_dataset("sklearn:wine", seed=2)
    with torch.no_grad():
        val = (result.model(ds.X_val).argmax(1) == ds.y_val).float().mean().item()
        test = (result.model(ds.X_test).argmax(1) == ds.y_test).float().mean().item()
    assert val == pytest.approx(best.val_score, abs=1e-6)
    assert test == pytest.approx(best.test_score, abs=1e-6)
    plot_tuning(result, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 10_000


def test_another_agent_on_its_own_grid(agent_dir: Path) -> None:
    result = tune("sklearn:iris", budget_epochs=8, agent=agent_dir)  # its grid, its 2 slots
    assert result.epochs_used <= 8
    assert {c.lr for c in result.trials} <= set(SPACE.lrs)
    with pytest.raises(ValueError, match="cannot act on the env"):
        tune("sklearn:iris", budget_epochs=8, agent=agent_dir, n_slots=N_SLOTS + 1)


def test_every_trial_is_logged_to_a_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    result = tune("sklearn:iris", budget_epochs=8, method="random", store=url)
    with MetaStore(url) as store:
        stats = store.stats()
    assert stats.runs == len(result.trials) > 0
    assert stats.epochs == result.epochs_used


def test_warm_started_baseline_gets_the_snapshot_warm_start() -> None:
    result = tune("sklearn:wine", budget_epochs=16, method="ws-random", space="lr-bs")
    assert result.prior.startswith("snapshot: 5 nearest datasets")
    assert result.epochs_used == 16


def test_unknown_methods_suggest_names() -> None:
    with pytest.raises(ValueError, match="Did you mean 'random'"):
        tune("sklearn:iris", method="randm")
    with pytest.raises(ValueError, match="oracle reads recorded curves"):
        tune("sklearn:iris", method="oracle")


def test_public_api_is_lazy_and_complete() -> None:
    assert tunegym.tune is tune
    assert tunegym.TuningResult is TuningResult
    assert {"tune", "load_agent", "TunedMLPClassifier", "TuningResult"} <= set(tunegym.__all__)
