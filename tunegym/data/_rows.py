"""Row-consistent splits: each row goes to a part by a seeded hash of its feature values.

KEEL's imbalanced tables of one family (``yeast1`` … ``yeast6``, ``yeast-2_vs_4``) are the same
rows relabelled, or subsets of them. A stratified split draws each table's parts on its own, so
a row tested in ``yeast3`` is often trained on in ``yeast1``: a model pre-trained on one sibling
and fine-tuned on another has then seen the target's test rows. Here a row's part is a function
of its feature values and the seed only (not of its label, its position or the other rows), so
it lands in the same part in every table that holds it, whatever the row order, and duplicates
of a row share a part.

Each row gets three independent uniform draws in ``[0, 1)`` from one SHA-256 of the seed and a
canonical text of its feature cells:

* ``split`` decides the hold-out part: test below ``test_size``, val below
  ``test_size + val_size``, else train;
* ``fold`` decides its fold in k-fold mode: ``floor(fold * n_folds)``;
* ``keep`` orders the rows for ``max_rows``: the rows with the smallest draws are kept.

The canonical text is a JSON array of the cells: numbers as Python's ``repr`` of the float (so
``1``, ``1.0`` and ``"1.0"`` hash alike, and ``-0.0`` as ``0.0``), missing values (and NaN) as
``null``, other text as a JSON string. Column names are not part of it, only the values in column
order, so a table read from another source under other column names still matches.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Final

import numpy as np
import pandas as pd

from tunegym.data._split import Split
from tunegym.errors import DatasetError

__all__ = [
    "DRAW_FOLD",
    "DRAW_KEEP",
    "DRAW_SPLIT",
    "SPLIT_MODES",
    "check_parts_have_classes",
    "check_split_mode",
    "row_draws",
    "row_keys",
    "rows_cv_split",
    "rows_fold_split",
    "rows_holdout_split",
    "rows_subsample",
]

SPLIT_MODES: Final[tuple[str, ...]] = ("stratified", "rows")
"""The values of ``load_dataset(split=...)``."""

# Columns of row_draws' matrix.
DRAW_SPLIT: Final = 0
DRAW_FOLD: Final = 1
DRAW_KEEP: Final = 2

# Bumped if the canonical text or the hash ever change, so old and new splits never mix silently.
_TAG: Final = "tunegym.rows/1"


def check_split_mode(split: object) -> str:
    """Return ``split`` if it is one of :data:`SPLIT_MODES`.

    Raises:
        ValueError: for any other value, naming the allowed ones.
    """
    if not isinstance(split, str) or split not in SPLIT_MODES:
        raise ValueError(
            f"split must be one of {list(SPLIT_MODES)}; got {split!r}. Use 'rows' to put a row in "
            "the same part in every dataset that holds it (siblings of one family), 'stratified' "
            "(the default) for per-dataset stratified splits."
        )
    return split


def row_keys(frame: pd.DataFrame) -> list[str]:
    """The canonical text of every row of ``frame`` (see the module docstring).

    Example:
        >>> row_keys(pd.DataFrame({"a": [1, 1.0], "b": ["x", None]}))
        ['1.0,"x"', '1.0,null']
    """
    columns = [_canonical_column(frame.iloc[:, j]) for j in range(frame.shape[1])]
    return [",".join(cells) for cells in zip(*columns, strict=True)] if columns else []


def row_draws(frame: pd.DataFrame, seed: int) -> np.ndarray:
    """Three uniform draws in ``[0, 1)`` per row, from its feature values and ``seed`` alone.

    Returns:
        A ``float64`` array of shape ``(rows, 3)``; columns :data:`DRAW_SPLIT`,
        :data:`DRAW_FOLD` and :data:`DRAW_KEEP`.

    Example:
        >>> frame = pd.DataFrame({"a": [0.5, 2.0, 0.5]})
        >>> draws = row_draws(frame, seed=0)
        >>> bool((draws[0] == draws[2]).all()), bool((draws[0] == draws[1]).all())
        (True, False)
    """
    prefix = f"{_TAG}:{int(seed)}:".encode()
    draws = np.empty((len(frame), 3), dtype=np.float64)
    for i, key in enumerate(row_keys(frame)):
        digest = hashlib.sha256(prefix + key.encode()).digest()
        for k in range(3):
            # 53 bits: every value is an exact float64 in [0, 1).
            draws[i, k] = (int.from_bytes(digest[8 * k : 8 * k + 8], "big") >> 11) / 2.0**53
    return draws


def rows_subsample(draws: np.ndarray, max_rows: int) -> np.ndarray:
    """Sorted positions of the ``max_rows`` rows with the smallest ``keep`` draws.

    A table holding a subset of another's rows keeps, of those, the ones the other keeps (those
    below its threshold), so siblings subsampled alike share their rows.
    """
    order = np.argsort(draws[:, DRAW_KEEP], kind="stable")
    return np.sort(order[:max_rows])


def rows_holdout_split(draws: np.ndarray, val_size: float, test_size: float) -> Split:
    """Test where the ``split`` draw is below ``test_size``, val below ``test_size + val_size``."""
    u = draws[:, DRAW_SPLIT]
    test = u < test_size
    val = ~test & (u < test_size + val_size)
    return _parts(~test & ~val, val, test)


def rows_fold_split(draws: np.ndarray, n_folds: int, fold: int, val_size: float) -> Split:
    """Fold ``fold`` (``floor(fold_draw * n_folds)``) as test; val carved from the other folds.

    A row outside the test fold is val where its ``split`` draw is below
    ``val_size * n_folds / (n_folds - 1)``, so that val is about ``val_size`` of all rows.
    """
    test = _fold_of(draws, n_folds) == fold
    val = ~test & (draws[:, DRAW_SPLIT] < val_size * n_folds / (n_folds - 1))
    return _parts(~test & ~val, val, test)


def rows_cv_split(draws: np.ndarray, n_folds: int, fold: int, test_size: float) -> Split:
    """Fold ``fold`` as validation beside the hold-out test part of :func:`rows_holdout_split`.

    The test part is the rows whose ``split`` draw is below ``test_size`` (the test part of the
    hold-out split with the same seed); the others are in fold ``floor(fold_draw * n_folds)``.
    """
    test = draws[:, DRAW_SPLIT] < test_size
    val = ~test & (_fold_of(draws, n_folds) == fold)
    return _parts(~test & ~val, val, test)


def check_parts_have_classes(
    codes: np.ndarray, class_names: tuple[str, ...], split: Split, what: str
) -> None:
    """Check every class has a row in train, val and test (a row split does not stratify).

    Raises:
        DatasetError: naming the first class missing from a part, and what to do.
    """
    for part in ("train", "val", "test"):
        rows = getattr(split, part)
        counts = np.bincount(codes[rows], minlength=len(class_names))
        missing = [name for name, n in zip(class_names, counts, strict=True) if n == 0]
        if missing:
            total = np.bincount(codes, minlength=len(class_names))[class_names.index(missing[0])]
            raise DatasetError(
                f"The row-consistent split (split='rows') of {what} puts no row of class "
                f"{missing[0]!r} ({total} rows in all) in the {part} part ({len(rows)} rows"
                f"{'; also missing: ' + ', '.join(map(repr, missing[1:])) if missing[1:] else ''})"
                ". A row split does not stratify: use split='stratified', another seed, larger "
                "val_size/test_size, fewer folds or more rows."
            )


def _fold_of(draws: np.ndarray, n_folds: int) -> np.ndarray:
    return np.minimum((draws[:, DRAW_FOLD] * n_folds).astype(np.int64), n_folds - 1)


def _parts(train: np.ndarray, val: np.ndarray, test: np.ndarray) -> Split:
    return Split(np.flatnonzero(train), np.flatnonzero(val), np.flatnonzero(test))


def _canonical_column(column: pd.Series) -> list[str]:
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan).tolist()
        return [_number(v) for v in values]
    return [_cell(v) for v in column.tolist()]


def _number(value: float) -> str:
    # NaN and inf are missing values after typing (type_columns maps inf to NaN).
    return repr(value + 0.0) if math.isfinite(value) else "null"


def _cell(value: object) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return "null"
    if isinstance(value, float | int | np.floating | np.integer) and not isinstance(value, bool):
        return _number(float(value))
    text = str(value)
    try:
        number = float(text)
    except ValueError:
        return json.dumps(text)
    return _number(number)
