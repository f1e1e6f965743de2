"""`tune` for a newcomer: torch's threads pinned for the run, labels that compare with ``y``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris

from tunegym.agent import StepRecord, TunedMLPClassifier, TuningResult, tune
from tunegym.agent import _sklearn as sklearn_module

# The lr-bs grid with random search: a few fast epochs on iris.
QUICK: dict[str, Any] = {"space": "lr-bs", "method": "random", "budget_epochs": 16}


@pytest.fixture
def caller_threads() -> Iterator[int]:
    """The caller's torch threads: 3, an unusual value, restored after the test."""
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    yield 3
    torch.set_num_threads(before)


@pytest.mark.parametrize(("threads", "inside"), [(1, 1), (2, 2), (None, 3)])
def test_tune_sets_torch_threads_for_the_run_and_restores_them(
    caller_threads: int, threads: int | None, inside: int
) -> None:
    seen: list[int] = []
    X, y = load_iris(return_X_y=True)
    tune((X, y), **{**QUICK, "budget_epochs": 4}, threads=threads,
         progress=lambda r: seen.append(torch.get_num_threads()))  # fmt: skip
    assert seen and set(seen) == {inside}
    assert torch.get_num_threads() == caller_threads


def test_threads_are_restored_when_the_run_raises(caller_threads: int) -> None:
    def fail(record: StepRecord) -> None:
        assert torch.get_num_threads() == 1
        raise RuntimeError("a progress callback failed")

    with pytest.raises(RuntimeError, match="callback failed"):
        tune("sklearn:iris", **QUICK, threads=1, progress=fail)
    assert torch.get_num_threads() == caller_threads


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, "2"])
def test_bad_threads_are_refused_before_any_work(threads: object) -> None:
    with pytest.raises(ValueError, match=r"threads must be an int >= 1 .* got"):
        tune("no-such:data", threads=threads)  # type: ignore[arg-type]


def test_the_classifier_passes_threads_to_tune(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []

    def spy(*args: Any, **kwargs: Any) -> TuningResult:
        calls.append(kwargs["threads"])
        return tune(*args, **kwargs)

    monkeypatch.setattr(sklearn_module, "tune", spy)
    X, y = load_iris(return_X_y=True)
    clf = TunedMLPClassifier(budget_epochs=4, method="random", threads=2).fit(X, y)
    assert calls == [2] and clf.get_params()["threads"] == 2
    assert TunedMLPClassifier().threads == 1


@pytest.fixture(scope="module")
def int_run() -> tuple[TuningResult, np.ndarray, np.ndarray]:
    X, y = load_iris(return_X_y=True)
    labels = np.array([3, 5, 7])[y]
    return tune((X, labels), **QUICK), X, labels


def test_an_integer_target_keeps_integer_labels(
    int_run: tuple[TuningResult, np.ndarray, np.ndarray],
) -> None:
    result, X, y = int_run
    assert result.class_names == (3, 5, 7)
    assert all(type(c) is int for c in result.class_names)
    predicted = result.predict(X)
    assert predicted.dtype.kind == "i" and set(np.unique(predicted)) <= {3, 5, 7}
    assert (predicted == y).mean() > 0.6
    # predict is predict_proba's most probable class
    np.testing.assert_array_equal(
        predicted, np.array([3, 5, 7])[result.predict_proba(X).argmax(axis=1)]
    )


def test_the_report_keeps_integer_labels(
    int_run: tuple[TuningResult, np.ndarray, np.ndarray],
) -> None:
    report = json.loads(int_run[0].to_json())
    assert report["class_names"] == [3, 5, 7]
    assert all(type(c) is int for c in report["class_names"])


def test_string_labels_stay_strings() -> None:
    X, y = load_iris(return_X_y=True)
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    result = tune((X, labels), **QUICK)
    assert result.class_names == ("setosa", "versicolor", "virginica")
    predicted = result.predict(X)
    assert predicted.dtype.kind == "U"
    assert (predicted == labels).mean() > 0.6
    assert json.loads(result.to_json())["class_names"] == list(result.class_names)


def test_predict_without_a_model_says_why(
    int_run: tuple[TuningResult, np.ndarray, np.ndarray],
) -> None:
    result, X, _ = int_run
    empty = replace(result, model=None, fold_models=(), trials=())
    with pytest.raises(ValueError, match="found no model: no epoch was trained"):
        empty.predict(X)


def test_the_classifier_predicts_the_original_labels() -> None:
    X, y = load_iris(return_X_y=True)
    labels = np.array([3, 5, 7])[y]
    clf = TunedMLPClassifier(budget_epochs=16, method="random").fit(X, labels)
    predicted = clf.predict(X)
    assert predicted.dtype.kind == "i" and set(np.unique(predicted)) <= {3, 5, 7}
    assert clf.score(X, labels) > 0.6
