"""Tuning metrics beyond accuracy: the score mapping, both backends, older curve tables."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.envs.conftest import TINY_SEEDS, TINY_SPACE
from tests.envs.test_consistency import run, scripted_actions
from tunegym.data import TabularDataset
from tunegym.envs import (
    CURVE_COLUMNS,
    MINIMISED_METRICS,
    OPTIONAL_CURVE_COLUMNS,
    SCORE_METRICS,
    LiveBackend,
    ReplayBackend,
    TaskSpec,
    make_tuning_env,
    metric_score,
    metric_value,
    read_curves,
    score_of,
    write_curves,
)
from tunegym.training import METRICS, EpochRecord

MACRO = ("val_f1_macro", "val_precision_macro", "val_recall_macro")


def record(**values: float | None) -> EpochRecord:
    base: dict = dict(
        epoch=1, train_loss=0.5, val_loss=0.7, val_accuracy=0.8, val_balanced_accuracy=0.75,
        test_loss=None, test_accuracy=None, test_balanced_accuracy=None, seconds=0.1,
        diverged=False, val_f1_macro=0.6, val_precision_macro=0.65, val_recall_macro=0.7,
    )  # fmt: skip
    return EpochRecord(**(base | values))


def test_score_metrics_and_which_are_minimised() -> None:
    assert set(SCORE_METRICS) == {
        "val_accuracy", "val_balanced_accuracy", *MACRO, "val_loss",
    }  # fmt: skip
    assert SCORE_METRICS["val_loss"] == "test_loss"
    assert SCORE_METRICS["val_f1_macro"] == "test_f1_macro"
    assert set(SCORE_METRICS.values()) <= set(METRICS)
    assert {"val_loss", "test_loss"} == MINIMISED_METRICS
    for metric in MACRO:
        assert TaskSpec("sklearn:iris", metric=metric).test_metric == metric.replace("val", "test")
    with pytest.raises(ValueError, match="Did you mean 'val_f1_macro'"):
        TaskSpec("sklearn:iris", metric="val_f1")


def test_log_loss_scores_are_the_geometric_mean_probability() -> None:
    losses = np.array([0.0, math.log(2), math.log(10), math.inf])
    scores = metric_score(losses, "val_loss")
    np.testing.assert_allclose(scores, [1.0, 0.5, 0.1, 0.0])
    np.testing.assert_allclose(metric_value(scores, "val_loss"), losses)
    assert float(metric_value(0.0, "test_loss")) == math.inf  # a diverged epoch
    # Scores of maximised metrics are the values, both ways.
    np.testing.assert_array_equal(metric_score([0.25, 0.0], "val_f1_macro"), [0.25, 0.0])
    np.testing.assert_array_equal(metric_value([0.25, 0.0], "test_recall_macro"), [0.25, 0.0])
    with pytest.raises(ValueError, match="Unknown metric 'train_loss'"):
        metric_score([1.0], "train_loss")
    with pytest.raises(ValueError, match="Did you mean 'val_loss'"):
        metric_value([1.0], "val_los")


def test_score_of_a_record() -> None:
    assert score_of(record(), "val_f1_macro") == 0.6
    assert score_of(record(), "val_loss") == pytest.approx(math.exp(-0.7))
    assert score_of(record(val_loss=math.inf, diverged=True), "val_loss") == 0.0
    with pytest.raises(ValueError, match="no 'test_f1_macro': train with eval_test=True"):
        score_of(record(), "test_f1_macro")


def test_recorded_curves_carry_the_macro_scores(iris_curves: pd.DataFrame) -> None:
    assert set(OPTIONAL_CURVE_COLUMNS) <= set(CURVE_COLUMNS)
    assert CURVE_COLUMNS[-len(OPTIONAL_CURVE_COLUMNS) :] == OPTIONAL_CURVE_COLUMNS
    macro = iris_curves[list(OPTIONAL_CURVE_COLUMNS)]
    assert macro.notna().all().all()
    assert ((macro >= 0) & (macro <= 1)).all().all()
    assert (macro[iris_curves["diverged"]] == 0.0).all().all()
    assert macro[~iris_curves["diverged"]]["val_f1_macro"].max() > 0.5


@pytest.mark.parametrize("metric", [*MACRO, "val_loss"])
def test_replay_serves_the_metric_as_a_score(iris_curves: pd.DataFrame, metric: str) -> None:
    backend = ReplayBackend(iris_curves, metric=metric, space=TINY_SPACE, seeds=TINY_SEEDS)
    handle = backend.start({"lr": 1e-2, "batch_size": 16}, 1)
    segment = backend.advance(handle, TINY_SPACE.max_epochs)
    rows = iris_curves.query("lr == 0.01 and batch_size == 16 and seed == 1")
    test_metric = SCORE_METRICS[metric]
    np.testing.assert_allclose(segment.scores, metric_score(rows[metric], metric))
    np.testing.assert_allclose(segment.test_scores, metric_score(rows[test_metric], test_metric))
    all_scores = metric_score(iris_curves[metric], metric)
    assert backend.score_bounds == (all_scores.max(), all_scores.min())
    assert 0.0 <= all_scores.min() < all_scores.max() <= 1.0
    if metric == "val_loss":
        assert all_scores.min() == 0.0  # the diverged runs


def test_live_backend_scores_the_metric(iris: TabularDataset) -> None:
    backend = LiveBackend(iris, TINY_SPACE, metric="val_loss")
    handle = backend.start({"lr": 1e-2, "batch_size": 16}, 0)
    segment = backend.advance(handle, 2)
    history = backend.trial(handle).history
    np.testing.assert_allclose(segment.scores, [math.exp(-r.val_loss) for r in history])
    np.testing.assert_allclose(
        segment.test_scores, [math.exp(-(r.test_loss or math.nan)) for r in history]
    )


@pytest.mark.parametrize("metric", ["val_f1_macro", "val_loss"])
def test_live_and_replay_agree_on_other_metrics(
    iris: TabularDataset, iris_curves: pd.DataFrame, metric: str
) -> None:
    kwargs: dict[str, Any] = {
        "space": TINY_SPACE, "budget_epochs": 12, "n_slots": 3, "trial_seeds": TINY_SEEDS,
    }  # fmt: skip
    bounds = ReplayBackend(iris_curves, metric=metric).score_bounds
    replay = make_tuning_env(iris, "replay", curves=iris_curves, metric=metric, **kwargs)
    live = make_tuning_env(iris, "live", score_bounds=bounds, metric=metric, **kwargs)
    a, b = run(live, scripted_actions(live), 0), run(replay, scripted_actions(replay), 0)
    assert len(a) == len(b) == 9
    for (obs_a, r_a), (obs_b, r_b) in zip(a, b, strict=True):
        np.testing.assert_allclose(obs_a, obs_b, rtol=0, atol=1e-6)
        assert r_a == pytest.approx(r_b, abs=1e-6)
    incumbent = replay.step_log[-1]["incumbent_val"]
    assert 0.0 < incumbent <= 1.0
    assert live.step_log[-1]["incumbent_val"] == pytest.approx(incumbent)


def test_older_tables_without_the_macro_scores(iris_curves: pd.DataFrame, tmp_path: Path) -> None:
    old = iris_curves.drop(columns=list(OPTIONAL_CURVE_COLUMNS))
    back = read_curves(write_curves(old, tmp_path / "old.parquet"))
    assert list(back.columns) == list(CURVE_COLUMNS[: -len(OPTIONAL_CURVE_COLUMNS)])
    for metric in ("val_accuracy", "val_balanced_accuracy", "val_loss"):
        ReplayBackend(back, metric=metric, space=TINY_SPACE, seeds=TINY_SEEDS)
    with pytest.raises(ValueError, match=r"has no column 'val_f1_macro'.*record new curves"):
        ReplayBackend(back, metric="val_f1_macro")
    # The meta-store reads older runs back with the columns present but empty.
    empty = iris_curves.assign(**{c: np.nan for c in OPTIONAL_CURVE_COLUMNS})
    with pytest.raises(ValueError, match="only missing values in the column 'val_recall_macro'"):
        ReplayBackend(empty, metric="val_recall_macro")


def test_the_shipped_snapshot_names_the_missing_column() -> None:
    from tunegym.metastore import load_snapshot

    frame = load_snapshot(["sklearn:iris"])
    assert "val_f1_macro" not in frame.columns  # recorded before the macro scores
    with pytest.raises(ValueError, match=r"has no column 'val_f1_macro'.*'tunegym collect'"):
        ReplayBackend(frame, "sklearn:iris", metric="val_f1_macro")
    backend = ReplayBackend(frame, "sklearn:iris", metric="val_loss")
    assert backend.score_bounds is not None
    best, worst = backend.score_bounds
    assert 0.0 <= worst < best <= 1.0
    with pytest.raises(ValueError, match="Unknown metric 'val_f1'"):
        ReplayBackend(frame, "sklearn:iris", metric="val_f1")
