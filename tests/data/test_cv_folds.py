"""`cv_folds`: k-fold cross-validation for tuning beside a fixed hold-out test part."""

from __future__ import annotations

import numpy as np
import pytest


def test_cv_folds_share_the_holdout_test_part_and_partition_the_rest() -> None:
    from tunegym.data import cv_folds, load_dataset

    folds = cv_folds("keel:german", n_folds=4, seed=3)
    holdout = load_dataset("keel:german", seed=3)
    assert [ds.fold for ds in folds] == [0, 1, 2, 3]
    assert {ds.fold_part for ds in folds} == {"val"}
    for ds in folds:
        assert np.array_equal(ds.indices_test, holdout.indices_test)
        assert not set(ds.indices_val) & set(ds.indices_train)
        assert len(ds.indices_train) + len(ds.indices_val) + len(ds.indices_test) == 1000
    vals = np.concatenate([ds.indices_val for ds in folds])
    rest = np.concatenate([holdout.indices_train, holdout.indices_val])
    assert np.array_equal(np.sort(vals), np.sort(rest))  # every other row validates once


def test_cv_folds_refuse_a_class_too_rare_for_the_folds() -> None:
    from tunegym.data import cv_folds
    from tunegym.errors import DatasetError

    X = np.arange(40, dtype=float).reshape(-1, 1)
    y = np.array([0] * 36 + [1] * 4)
    with pytest.raises(DatasetError, match="fewer folds"):
        cv_folds((X, y), n_folds=5)
