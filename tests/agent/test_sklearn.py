"""`TunedMLPClassifier` through scikit-learn's estimator checks, and on a raw DataFrame."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from tunegym.agent import TunedMLPClassifier, TuningResult
from tunegym.data import load_dataset

# A tiny budget keeps the ~50 checks fast; random search needs no warm start. No check is
# expected to fail; `check_array_api_input` is skipped by scikit-learn itself unless
# SCIPY_ARRAY_API=1 is set (docs/AGENT.md).
FAST = TunedMLPClassifier(budget_epochs=8, method="random")


@pytest.mark.parametrize("budget", [4, 8])
def test_the_agent_learns_an_easy_problem_at_a_small_budget(budget: int) -> None:
    # At 4 epochs the budget masks out the agent's preferred 16-epoch start; it must still pick
    # its preferred configuration (for fewer epochs), not whatever carries mass at k <= 4.
    from sklearn.utils.estimator_checks import check_classifiers_train

    check_classifiers_train("TunedMLPClassifier", TunedMLPClassifier(budget_epochs=budget))


@parametrize_with_checks([FAST])
def test_scikit_learn_estimator_checks(
    estimator: TunedMLPClassifier, check: Callable[[TunedMLPClassifier], None]
) -> None:
    check(estimator)


def credit_frame(n: int = 240) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    income = rng.normal(50, 15, n)
    housing = rng.choice(["own", "rent", "free"], n)
    income[::17] = np.nan  # imputed
    good = (np.nan_to_num(income, nan=50) + 20 * (housing == "own") + rng.normal(0, 5, n)) > 55
    frame = pd.DataFrame({"income": income, "housing": pd.Categorical(housing)})
    return frame, pd.Series(np.where(good, "good", "bad"), name="credit")


def test_agent_tunes_inside_fit_and_predicts_raw_rows() -> None:
    X, y = credit_frame()
    clf = TunedMLPClassifier(budget_epochs=16).fit(X, y)
    assert list(clf.classes_) == ["bad", "good"]
    assert clf.n_features_in_ == 2
    assert list(clf.feature_names_in_) == ["income", "housing"]
    assert isinstance(clf.tuning_result_, TuningResult)
    assert clf.tuning_result_.method == "agent"
    assert clf.tuning_result_.epochs_used <= 16
    assert set(clf.predict(X.head(20))) <= {"bad", "good"}
    assert clf.predict_proba(X).shape == (len(X), 2)
    # Raw validation rows, preprocessed by predict, score what the tuner saw for the best epoch.
    codes = (y == "good").to_numpy().astype(int)
    val = load_dataset((X, codes), seed=0, val_size=0.2, test_size=0.1).indices_val
    best = clf.tuning_result_.best
    assert best is not None
    assert clf.score(X.iloc[val], y.iloc[val]) == pytest.approx(best.val_score, abs=1e-6)


def test_params_round_trip_and_clone_for_cross_validation() -> None:
    clf = TunedMLPClassifier(budget_epochs=4, method="random", seed=3)
    assert clf.get_params()["budget_epochs"] == 4
    clf.set_params(budget_epochs=8)
    twin = clone(clf)
    assert twin.get_params() == clf.get_params()
    X, y = credit_frame()
    scores = cross_val_score(clf, X, y, cv=2)
    assert scores.shape == (2,)


def test_one_class_and_unknown_method_are_refused() -> None:
    X, y = credit_frame(30)
    with pytest.raises(ValueError, match="at least 2 classes"):
        TunedMLPClassifier(budget_epochs=4).fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="Did you mean"):
        TunedMLPClassifier(budget_epochs=4, method="hyperbnd").fit(X, y)


@pytest.mark.parametrize(
    ("rows", "columns", "message"),
    [
        (0, ["income", "housing"], r"Found array with 0 sample\(s\) \(shape=\(0, 2\)\) while a "),
        (12, [], r"Found array with 0 feature\(s\) \(shape=\(12, 0\)\) while a minimum of 1 is "),
    ],
)
def test_an_empty_dataframe_is_refused_as_scikit_learn_does(
    rows: int, columns: list[str], message: str
) -> None:
    X, y = credit_frame(12)
    with pytest.raises(ValueError, match=message + r".*required by TunedMLPClassifier\."):
        TunedMLPClassifier(budget_epochs=4, method="random").fit(X.iloc[:rows][columns], y[:rows])


@pytest.mark.parametrize(
    ("y", "cv", "message"),
    [
        (
            ["a", "b", "c"],
            None,
            r"at least 3 samples of every class, to put one in the train, "
            r"validation and test parts; class 'a' has 1\.",
        ),
        (["a"] * 5 + ["b"], None, r"at least 3 samples .*; class 'b' has 1\. Drop or merge"),
        (
            [0, 1] * 4,
            4,
            r"at least 5 samples of every class, to put one in every fold and the "
            r"test part; class 0 has 4\.",
        ),
    ],
)
def test_too_few_samples_per_class_are_refused(
    y: list[object], cv: int | None, message: str
) -> None:
    X = np.arange(2 * len(y), dtype=float).reshape(len(y), 2)
    with pytest.raises(ValueError, match=message):
        TunedMLPClassifier(budget_epochs=4, method="random", cv=cv).fit(X, y)
