"""Seeded stratified splits: subsample, train/val/test hold-out and k folds.

Every function takes the label codes of the rows and returns row positions; the seed goes to
scikit-learn as ``random_state``, so the same seed always gives the same split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.utils import resample

from tunegym.errors import DatasetError

__all__ = [
    "Split",
    "check_class_counts",
    "cv_split",
    "fold_split",
    "holdout_split",
    "min_rows_per_class",
    "subsample",
]


@dataclass(frozen=True, eq=False)
class Split:
    """Sorted row positions of the three parts."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def min_rows_per_class(n_folds: int | None) -> int:
    """Rows a class needs so that every part of the split can be stratified.

    Three rows give a class one row in train, val and test; ``k`` folds need ``k``.
    """
    return max(3, n_folds or 0)


def check_class_counts(
    codes: np.ndarray, class_names: tuple[str, ...], min_count: int, what: str, fix: str
) -> None:
    """Check there are two classes or more and each has ``min_count`` rows or more.

    ``fix`` ends the message about rare classes: what the user can do.

    Raises:
        DatasetError: naming the class, its row count and what to do.
    """
    counts = np.bincount(codes, minlength=len(class_names))
    if len(class_names) < 2:
        raise DatasetError(
            f"The target of {what} has a single class ({class_names[0]!r}, {counts[0]} rows); "
            "classification needs at least 2 classes."
        )
    rare = [(name, int(n)) for name, n in zip(class_names, counts, strict=True) if n < min_count]
    if rare:
        listed = ", ".join(f"{name!r} ({n} rows)" for name, n in rare)
        raise DatasetError(
            f"Class {rare[0][0]!r} of {what} has only {rare[0][1]} row(s); a stratified split "
            f"needs at least {min_count} rows per class (too rare: {listed}). {fix}"
        )


def subsample(codes: np.ndarray, max_rows: int, seed: int) -> np.ndarray:
    """Sorted positions of a stratified sample (without replacement) of ``max_rows`` rows."""
    kept = resample(
        np.arange(len(codes)),
        replace=False,
        n_samples=max_rows,
        stratify=codes,
        random_state=seed,
    )
    return np.sort(kept)


def holdout_split(codes: np.ndarray, val_size: float, test_size: float, seed: int) -> Split:
    """Stratified train/val/test split; ``val_size`` and ``test_size`` are shares of all rows."""
    rows = np.arange(len(codes))
    n_test = _count(test_size, len(codes))
    rest, test = train_test_split(rows, test_size=n_test, stratify=codes, random_state=seed)
    return _carve_val(codes, rest, test, _count(val_size, len(codes)), seed)


def fold_split(codes: np.ndarray, n_folds: int, fold: int, val_size: float, seed: int) -> Split:
    """Fold ``fold`` of a stratified ``n_folds``-fold split as test; val carved from the rest.

    ``val_size`` is a share of all rows, as in :func:`holdout_split`.
    """
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    rest, test = list(folds.split(np.zeros(len(codes)), codes))[fold]
    return _carve_val(codes, rest, test, _count(val_size, len(codes)), seed)


def cv_split(codes: np.ndarray, n_folds: int, fold: int, test_size: float, seed: int) -> Split:
    """Fold ``fold`` as validation of a k-fold split of the rows left beside a hold-out test part.

    The test part is the one :func:`holdout_split` holds out with the same ``test_size`` and
    ``seed``, so tuning with cross-validation is scored on the same rows as without it.
    """
    rows = np.arange(len(codes))
    n_test = _count(test_size, len(codes))
    rest, test = train_test_split(rows, test_size=n_test, stratify=codes, random_state=seed)
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    train, val = list(folds.split(np.zeros(len(rest)), codes[rest]))[fold]
    return Split(np.sort(rest[train]), np.sort(rest[val]), np.sort(test))


def _count(share: float, n_rows: int) -> int:
    # Rounded row counts, not shares, go to scikit-learn: it rounds a share up, and float error
    # (0.1 / 0.7 * 700 = 100.000...01) would then add a row.
    return max(1, round(share * n_rows))


def _carve_val(
    codes: np.ndarray, rest: np.ndarray, test: np.ndarray, n_val: int, seed: int
) -> Split:
    train, val = train_test_split(rest, test_size=n_val, stratify=codes[rest], random_state=seed)
    return Split(np.sort(train), np.sort(val), np.sort(test))
