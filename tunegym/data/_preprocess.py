"""Column typing, target encoding and the scikit-learn preprocessing fitted on the training part."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from tunegym.errors import DatasetError

__all__ = [
    "FittedPreprocessor",
    "TypedFeatures",
    "encode_target",
    "fit_preprocessor",
    "type_columns",
]

# A text column whose non-missing values are mostly numbers is a numeric column with bad entries
# (an error) rather than a categorical one when at least NUMERIC_SHARE of them are numbers, or at
# least MOSTLY_NUMERIC_SHARE are and they take more than FEW_NUMBERS distinct values: one-hot
# encoding would make a level of each number. Fewer distinct numbers are labels ("2", "3",
# "5more").
NUMERIC_SHARE = 0.95
MOSTLY_NUMERIC_SHARE = 0.5
FEW_NUMBERS = 20

# Text that marks a missing number in a text column (compared stripped and lower-cased); a CSV
# file's reader already reads these as missing, a DataFrame may still hold them as strings.
_MISSING_MARKERS = frozenset({"", "?", "na", "n/a", "nan", "null", "none", "<na>", "#n/a"})

# The name OneHotEncoder gives the pooled level, and the one tunegym shows instead.
_SKLEARN_POOLED = "_infrequent_sklearn"
_POOLED = "_other"


@dataclass(frozen=True, eq=False)
class TypedFeatures:
    """Raw features with each column typed: numeric as ``float64`` (inf as NaN), categorical as
    ``object`` strings (NaN where missing)."""

    frame: pd.DataFrame
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]


def type_columns(features: pd.DataFrame, what: str) -> TypedFeatures:
    """Decide for every column whether it is numeric or categorical, and convert it.

    ``category`` and ``bool`` columns are categorical; numeric dtypes are numeric; a text column
    is numeric when all its values parse as numbers. It is an error (numbers with stray text,
    which one-hot encoding would silently turn into a level per number) when nearly all
    (``NUMERIC_SHARE``) of its values parse, or at least half do and they take more than
    ``FEW_NUMBERS`` distinct values; otherwise it is categorical (labels, some of which may look
    like numbers: ``"2"``, ``"3"``, ``"5more"``). Missing-value markers such as ``"?"``,
    ``"NA"`` or ``"n/a"`` count as missing, not as text.

    Raises:
        DatasetError: for a numeric column with non-numeric values; names the column, a few of
            the values and their rows.
    """
    columns: dict[str, pd.Series] = {}
    numeric: list[str] = []
    categorical: list[str] = []
    for name in features.columns:
        column = features[name]
        if isinstance(column.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(column):
            columns[name] = _as_levels(column)
            categorical.append(name)
        elif pd.api.types.is_numeric_dtype(column):
            columns[name] = _as_numbers(column)
            numeric.append(name)
        else:
            given = column.dropna()
            present = given[~given.astype(str).str.strip().str.lower().isin(_MISSING_MARKERS)]
            parsed = pd.to_numeric(present, errors="coerce")
            bad = parsed.isna()
            if not bad.any() and (len(present) or not len(given)):  # markers only: a level
                columns[name] = _as_numbers(parsed.reindex(column.index))
                numeric.append(name)
            elif len(present) and _numbers_with_text(parsed):
                raise DatasetError(_not_numbers(name, what, present[bad]))
            else:
                columns[name] = _as_levels(column)
                categorical.append(name)
    return TypedFeatures(pd.DataFrame(columns), tuple(numeric), tuple(categorical))


def _numbers_with_text(parsed: pd.Series) -> bool:
    share = parsed.notna().mean()
    return bool(
        share >= NUMERIC_SHARE or (share >= MOSTLY_NUMERIC_SHARE and parsed.nunique() > FEW_NUMBERS)
    )


def _not_numbers(name: Hashable, what: str, bad: pd.Series, shown: int = 3) -> str:
    first = bad.groupby(bad.astype(str), sort=False).head(1)
    examples = ", ".join(f"{value!r} (row {row})" for row, value in first.iloc[:shown].items())
    more = f" and {len(first) - shown} other distinct values" if len(first) > shown else ""
    return (
        f"Column {name!r} of {what} holds numbers but {len(bad)} of its values are not numbers, "
        f"e.g. {examples}{more}. Fix or blank those values (missing values may be empty, '?' "
        "or 'NA'), or, if its values are labels, give the column the pandas dtype 'category' "
        "(read the file with pandas, then pass the DataFrame)."
    )


@dataclass(frozen=True, eq=False)
class FittedPreprocessor:
    """The feature preprocessing of a dataset, fitted on its training part, for new raw rows.

    ``transform`` turns raw features (a DataFrame with the training table's feature columns, or an
    array with as many columns in the same order) into the matrix the network was trained on:
    each column is typed as in training (numbers parsed, labels as strings), then imputed,
    one-hot encoded and standardised by the fitted transformer.

    Attributes:
        columns: the raw feature columns' labels, in training order (a DataFrame's column
            matches one by its label, or by its label as a string).
        numeric: those typed numeric.
        categorical: those typed categorical.
        transformer: the fitted scikit-learn ``ColumnTransformer``.
    """

    columns: tuple[Hashable, ...]
    numeric: tuple[Hashable, ...]
    categorical: tuple[Hashable, ...]
    transformer: ColumnTransformer

    def transform(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Preprocess raw rows into a ``float32`` matrix of shape ``(rows, n_features)``.

        Raises:
            ValueError: ``X`` lacks a training column, or has the wrong number of columns.
        """
        if isinstance(X, pd.DataFrame):
            by_text = {str(c): c for c in X.columns}
            missing = [c for c in self.columns if c not in X.columns and str(c) not in by_text]
            if missing:
                raise ValueError(
                    f"X lacks the feature columns {missing[:5]} it was fitted with "
                    f"({len(self.columns)} columns: {list(self.columns)[:5]}...)."
                )
            raw = [X[c] if c in X.columns else X[by_text[str(c)]] for c in self.columns]
        else:
            values = np.asarray(X)
            if values.ndim != 2 or values.shape[1] != len(self.columns):
                raise ValueError(
                    f"X must be 2-D with {len(self.columns)} columns (as in training); "
                    f"got shape {values.shape}."
                )
            raw = [pd.Series(values[:, i]) for i in range(values.shape[1])]
        typed = {
            name: _as_levels(column)
            if name in self.categorical
            else _as_numbers(pd.to_numeric(column, errors="coerce"))
            for name, column in zip(self.columns, raw, strict=True)
        }
        frame = pd.DataFrame(
            {n: c.to_numpy() for n, c in typed.items()}, columns=list(self.columns)
        )
        matrix = self.transformer.transform(frame)
        return np.ascontiguousarray(matrix, dtype=np.float32)


def _as_numbers(column: pd.Series) -> pd.Series:
    return column.astype(np.float64).replace([np.inf, -np.inf], np.nan)


def _as_levels(column: pd.Series) -> pd.Series:
    return column.astype(str).where(column.notna(), np.nan).astype(object)


def encode_target(
    target: pd.Series, what: str
) -> tuple[np.ndarray, tuple[str, ...], tuple[Any, ...]]:
    """Label-encode the target.

    Classes are numbered in the order of a ``category`` dtype's categories (scikit-learn's and
    OpenML's class order), else in sorted order of the labels; integral float labels are shown
    as integers (``"1"``, not ``"1.0"``).

    Returns:
        ``(codes, class_names)``: ``int64`` codes and the label of each code (as text, with
        the original labels in ``class_names.labels``).

    Raises:
        DatasetError: the target has missing or infinite values.
    """
    name = str(target.name)
    missing = target.isna().to_numpy()
    if missing.any():
        raise DatasetError(
            f"The target {name!r} of {what} has {int(missing.sum())} missing value(s) (NaN), "
            f"the first at row {int(np.argmax(missing))}; drop or label those rows before loading."
        )
    if isinstance(target.dtype, pd.CategoricalDtype):
        target = target.cat.remove_unused_categories()
        codes = target.cat.codes.to_numpy().astype(np.int64)
        return codes, *_names_and_labels(target.cat.categories)
    if pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target):
        numbers = target.to_numpy(dtype=np.float64)
        infinite = np.isinf(numbers)
        if infinite.any():
            raise DatasetError(
                f"The target {name!r} of {what} has {int(infinite.sum())} infinite value(s), "
                f"the first at row {int(np.argmax(infinite))}; class labels must be finite."
            )
        integral = np.array_equal(numbers, np.round(numbers))
        values: np.ndarray = numbers.astype(np.int64) if integral else numbers
    elif pd.api.types.is_bool_dtype(target):
        values = target.to_numpy(dtype=bool)  # False, True: the order of their names too
    else:
        values = target.astype(str).to_numpy()
    classes, codes = np.unique(values, return_inverse=True)
    return codes.astype(np.int64), *_names_and_labels(classes)


def _names_and_labels(classes: Iterable[Any]) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """The classes as text and as Python values (numpy scalars unwrapped, for JSON)."""
    labels = tuple(c.item() if isinstance(c, np.generic) else c for c in classes)
    return tuple(str(c) for c in labels), labels


def fit_preprocessor(
    train: pd.DataFrame,
    typed: TypedFeatures,
    *,
    min_frequency: int,
    max_categories: int | None,
) -> tuple[ColumnTransformer, tuple[str, ...]]:
    """Fit the feature preprocessing on the training rows only.

    Numeric columns: median imputation, then standardisation. Categorical columns: most-frequent
    imputation, then one-hot encoding where levels seen fewer than ``min_frequency`` times in
    training, and those beyond the ``max_categories - 1`` most frequent, are pooled into one
    ``<column>_other`` level; levels first seen at validation/test time also go to ``_other``
    (or, where training had nothing to pool, encode as all zeros).

    Returns:
        The fitted transformer and the names of its output columns.
    """
    numeric = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    categorical = make_pipeline(
        SimpleImputer(strategy="most_frequent"),
        OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            min_frequency=min_frequency,
            max_categories=max_categories,
            sparse_output=False,
            dtype=np.float32,
        ),
    )
    transformer = ColumnTransformer(
        [
            ("numeric", numeric, list(typed.numeric)),
            ("categorical", categorical, list(typed.categorical)),
        ],
        verbose_feature_names_out=False,
        sparse_threshold=0.0,
    )
    transformer.fit(train)
    names = tuple(
        n[: -len(_SKLEARN_POOLED)] + _POOLED if n.endswith(_SKLEARN_POOLED) else n
        for n in transformer.get_feature_names_out()
    )
    return transformer, names
