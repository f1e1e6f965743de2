"""Landmarkers: cheap learners' cross-validated scores, under tunegym names.

OpenML's landmarkers are Weka runs (``NaiveBayesErrRate``, ``DecisionStumpKappa``,
``kNN1NAUC`` ...) with Weka's own fold assignment and learner details, so values computed here
cannot equal them; they carry OpenML's name after a ``tunegym.`` prefix so that the two are
never mixed up. The learners mimic Weka's where it is cheap to:

- ``NaiveBayes``: Gaussian likelihood for numeric attributes, Laplace-smoothed frequencies for
  nominal ones, missing values ignored (as Weka's ``NaiveBayes``);
- ``DecisionStump``: a depth-1 entropy tree on numeric attributes and one-hot nominal ones;
- ``kNN1N``: one nearest neighbour under Weka's ``IBk`` distance: numeric attributes scaled to
  [0, 1] by their range, a differing nominal value counting 1.

All three run a stratified 10-fold cross-validation (as many folds as the largest class has
rows, if fewer) on a random subsample of at most ``max_rows`` labelled rows. ``ErrRate`` is the
error rate, ``Kappa`` Cohen's kappa and ``AUC`` the class-frequency weighted one-vs-rest area
under the ROC curve (Weka's ``weightedAreaUnderROC``), all of the pooled out-of-fold predictions.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier

__all__ = ["LANDMARK_NAMES", "LANDMARK_PREFIX", "landmark"]

LANDMARK_PREFIX = "tunegym."
_LEARNERS = ("NaiveBayes", "DecisionStump", "kNN1N")
_MEASURES = ("ErrRate", "Kappa", "AUC")
LANDMARK_NAMES: tuple[str, ...] = tuple(
    f"{LANDMARK_PREFIX}{learner}{measure}" for learner in _LEARNERS for measure in _MEASURES
)
N_FOLDS = 10


class _Fold:
    """One fold's training and test rows, with the encodings the learners need."""

    def __init__(
        self,
        numeric: np.ndarray,
        nominal: np.ndarray,
        one_hot: np.ndarray,
        train: np.ndarray,
        test: np.ndarray,
    ) -> None:
        self.train, self.test = train, test
        self.numeric, self.nominal = numeric, nominal
        num_train = numeric[train]
        self.median = np.nan_to_num(_nan_stat(np.nanmedian, num_train))
        low = np.nan_to_num(_nan_stat(np.nanmin, num_train))
        span = np.nan_to_num(_nan_stat(np.nanmax, num_train)) - low
        span[span == 0] = 1.0
        # Weka's IBk distance: numeric values scaled by their range, and one-hot columns
        # divided by sqrt(2) so that two differing nominal values are at distance 1.
        imputed = np.where(np.isnan(numeric), self.median, numeric)
        self.scaled = np.column_stack([(imputed - low) / span, one_hot / np.sqrt(2)])
        self.design = np.column_stack([imputed, one_hot])


def landmark(
    numeric: np.ndarray,
    nominal: np.ndarray,
    target: np.ndarray,
    n_classes: int,
    *,
    seed: int,
    max_rows: int,
) -> dict[str, float]:
    """Cross-validated error rate, kappa and weighted AUC of the three landmark learners.

    Args:
        numeric: ``(n, p)`` numeric attributes, NaN where missing.
        nominal: ``(n, q)`` nominal level codes, -1 where missing.
        target: ``(n,)`` class codes, -1 where missing (those rows are left out).
        n_classes: number of classes (codes run from 0 to ``n_classes - 1``).
        seed: seed of the subsample and the folds.
        max_rows: size of the random subsample the learners run on.

    Returns:
        ``{name: value}`` for :data:`LANDMARK_NAMES`; NaN when fewer than two classes occur.
    """
    rng = np.random.default_rng(seed)
    rows = np.flatnonzero(target >= 0)
    if len(rows) > max_rows:
        rows = np.sort(rng.choice(rows, size=max_rows, replace=False))
    y = target[rows]
    if len(np.unique(y)) < 2:
        return dict.fromkeys(LANDMARK_NAMES, np.nan)
    numeric, nominal = numeric[rows], nominal[rows]
    learners: dict[str, Callable[[_Fold, np.ndarray, int, int], np.ndarray]] = {
        "NaiveBayes": _naive_bayes,
        "DecisionStump": _decision_stump,
        "kNN1N": _nearest_neighbour,
    }
    proba = {name: np.zeros((len(y), n_classes)) for name in learners}
    one_hot = _one_hot(nominal)
    for train, test in _folds(y, seed):
        fold = _Fold(numeric, nominal, one_hot, train, test)
        for name, learner in learners.items():
            proba[name][test] = learner(fold, y, n_classes, seed)
    result: dict[str, float] = {}
    for name, p in proba.items():
        predicted = p.argmax(axis=1)
        result[f"{LANDMARK_PREFIX}{name}ErrRate"] = float(np.mean(predicted != y))
        result[f"{LANDMARK_PREFIX}{name}Kappa"] = _kappa(y, predicted, n_classes)
        result[f"{LANDMARK_PREFIX}{name}AUC"] = _weighted_auc(y, p)
    return result


def _folds(y: np.ndarray, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    largest = int(np.bincount(y).max())
    if largest < 2:  # every class has one row: nothing to stratify
        return list(KFold(min(N_FOLDS, len(y)), shuffle=True, random_state=seed).split(y))
    splitter = StratifiedKFold(min(N_FOLDS, largest), shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # Classes smaller than the number of folds are spread over as many folds as they
        # have rows, as in Weka's stratified cross-validation; scikit-learn warns about it.
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        return list(splitter.split(np.zeros(len(y)), y))


def _naive_bayes(fold: _Fold, y: np.ndarray, n_classes: int, seed: int) -> np.ndarray:
    train, test = fold.train, fold.test
    y_train = y[train]
    counts = np.bincount(y_train, minlength=n_classes)
    log_joint = np.tile(np.log((counts + 1) / (len(y_train) + n_classes)), (len(test), 1))
    if fold.numeric.shape[1]:
        x_train, x_test = fold.numeric[train], fold.numeric[test]
        overall_mean = np.nan_to_num(_nan_stat(np.nanmean, x_train))
        overall_var = np.nan_to_num(_nan_stat(np.nanvar, x_train))
        floor = np.maximum(1e-9 * overall_var.max(), 1e-12)
        for c in range(n_classes):
            x_c = x_train[y_train == c]
            observed = (~np.isnan(x_c)).sum(axis=0)
            mean = np.where(observed > 0, _nan_stat(np.nanmean, x_c), overall_mean)
            var = np.where(observed > 1, _nan_stat(np.nanvar, x_c), overall_var)
            var = np.maximum(var, floor)
            log_lik = -0.5 * (np.log(2 * np.pi * var) + (x_test - mean) ** 2 / var)
            log_joint[:, c] += np.nansum(log_lik, axis=1)
    for j in range(fold.nominal.shape[1]):
        codes = fold.nominal[:, j]
        n_levels = max(int(codes.max()) + 1, 1)
        known = codes[train] >= 0
        table = np.zeros((n_classes, n_levels))
        np.add.at(table, (y_train[known], codes[train][known]), 1)
        log_p = np.log((table + 1) / (table.sum(axis=1, keepdims=True) + n_levels))
        code_test = codes[test]
        seen = code_test >= 0
        log_joint[seen] += log_p[:, code_test[seen]].T
    log_joint -= log_joint.max(axis=1, keepdims=True)
    proba = np.exp(log_joint)
    return proba / proba.sum(axis=1, keepdims=True)


def _decision_stump(fold: _Fold, y: np.ndarray, n_classes: int, seed: int) -> np.ndarray:
    stump = DecisionTreeClassifier(max_depth=1, criterion="entropy", random_state=seed)
    stump.fit(fold.design[fold.train], y[fold.train])
    return _full_proba(stump.predict_proba(fold.design[fold.test]), stump.classes_, n_classes)


def _nearest_neighbour(fold: _Fold, y: np.ndarray, n_classes: int, seed: int) -> np.ndarray:
    knn = KNeighborsClassifier(n_neighbors=1).fit(fold.scaled[fold.train], y[fold.train])
    return _full_proba(knn.predict_proba(fold.scaled[fold.test]), knn.classes_, n_classes)


def _full_proba(proba: np.ndarray, classes: np.ndarray, n_classes: int) -> np.ndarray:
    full = np.zeros((len(proba), n_classes))
    full[:, classes] = proba
    return full


def _one_hot(nominal: np.ndarray) -> np.ndarray:
    blocks = []
    for j in range(nominal.shape[1]):
        codes = nominal[:, j]
        block = np.zeros((len(codes), max(int(codes.max()) + 1, 1)))
        seen = codes >= 0
        block[np.flatnonzero(seen), codes[seen]] = 1.0
        blocks.append(block)
    return np.column_stack(blocks) if blocks else np.empty((len(nominal), 0))


def _nan_stat(stat: Callable[..., np.ndarray], x: np.ndarray) -> np.ndarray:
    # numpy warns on all-missing columns; their NaN result is handled by the callers.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(stat(x, axis=0), dtype=np.float64)


def _kappa(y: np.ndarray, predicted: np.ndarray, n_classes: int) -> float:
    n = len(y)
    observed = float(np.mean(y == predicted))
    expected = float(
        np.bincount(y, minlength=n_classes) @ np.bincount(predicted, minlength=n_classes)
    ) / (n * n)
    return (observed - expected) / (1 - expected) if expected < 1 else np.nan


def _weighted_auc(y: np.ndarray, proba: np.ndarray) -> float:
    total = 0.0
    for c, count in enumerate(np.bincount(y)):
        if 0 < count < len(y):
            total += count / len(y) * float(roc_auc_score(y == c, proba[:, c]))
    return total
