"""Refuse a feature column that copies the class column: it would leak the labels into training."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tunegym.errors import DatasetError

__all__ = ["check_no_target_copy"]

_HEAD_ROWS = 1000


def check_no_target_copy(features: pd.DataFrame, target: pd.Series, what: str) -> None:
    """Refuse a feature column that holds the target again, as it is or re-encoded.

    A column is a copy when it has no missing value and its values and the classes pair one to
    one (each class has a single value of the column, and each value a single class), e.g. a
    CSV header naming the class column twice (pandas reads ``y,y`` as ``y`` and ``y.1``) or
    the class names mapped to integers.

    Raises:
        DatasetError: naming the column, the target, and what to do (drop the column).
    """
    target_codes, classes = pd.factorize(target, sort=False)
    n_classes = len(classes)
    if n_classes < 2 or (target_codes < 0).any():
        return  # a single class or missing labels are refused later, with their own message
    head = min(len(target), _HEAD_ROWS)
    for name in features.columns:
        column = features[name]
        # A copy pairs one to one on any rows: the first ones rule out most columns cheaply.
        if not _one_to_one(column.iloc[:head], target_codes[:head]):
            continue
        if not _one_to_one(column, target_codes):
            continue
        label = target.name
        if _same_values(column, target):
            how = "the same value on every row"
        else:
            first = int(np.argmax(target_codes == 0))
            value, label_value = _plain(column.iloc[first]), _plain(classes[0])
            how = f"each class has one value of it, e.g. {value!r} for {label_value!r}"
        duplicated_header = str(name).rpartition(".")[0] == str(label)
        hint = (
            f" (a CSV header naming {label!r} twice is read as {label!r} and {name!r})"
            if duplicated_header
            else ""
        )
        raise DatasetError(
            f"Column {name!r} of {what} is a copy of the target {label!r} ({how}), so it would "
            f"leak the labels into the features; drop that column before loading{hint}."
        )


def _one_to_one(column: pd.Series, target_codes: np.ndarray) -> bool:
    """Whether the column has no missing value and its values and the classes pair one to one."""
    codes, levels = pd.factorize(column, sort=False)
    n_classes = len(np.unique(target_codes))
    if len(levels) != n_classes or (codes < 0).any():
        return False
    pairs = codes.astype(np.int64) * (int(target_codes.max()) + 1) + target_codes
    return len(np.unique(pairs)) == n_classes


def _same_values(column: pd.Series, target: pd.Series) -> bool:
    left, right = column.to_numpy(dtype=object), target.to_numpy(dtype=object)
    return bool(np.array_equal(left, right))


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value
