"""Meta-features of a classification table under OpenML's quality names and definitions.

OpenML computes its data qualities on the raw table (target included) with the Java
characterisers of its evaluation engine; the definitions below reproduce them, checked against
OpenML's published values (``experiments/verify_metafeatures.py``, ``docs/METAFEATURES.md``):

- counts take the target as one of the features, as OpenML does (``NumberOfFeatures``,
  ``NumberOfSymbolicFeatures``, ``NumberOfBinaryFeatures``, the percentages);
- numeric summaries use the sample standard deviation and the bias-corrected sample skewness
  (G1) and excess kurtosis (G2) of each numeric attribute, constant attributes left out of the
  skewness and kurtosis; quartiles of the per-attribute values use the ``p * (n + 1)`` rule;
- entropies and mutual information use log base 2, over the nominal attributes only.

Landmarkers are not OpenML's Weka runs; they carry a ``tunegym.`` prefix (see
:mod:`tunegym.metastore._landmarkers`).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tunegym.data import RawTable, read_table
from tunegym.data._sources import DataLike, TargetLike
from tunegym.errors import DatasetError, MissingExtraError, did_you_mean
from tunegym.metastore._landmarkers import LANDMARK_NAMES, landmark

__all__ = [
    "DEFAULT_GROUPS",
    "OPENML_QUALITY_NAMES",
    "MetaFeatureGroup",
    "compute_meta_features",
    "meta_feature_names",
]


class MetaFeatureGroup(enum.StrEnum):
    """Groups of meta-features that :func:`compute_meta_features` can compute."""

    SIMPLE = "simple"
    STATISTICAL = "statistical"
    INFORMATION = "information"
    LANDMARKING = "landmarking"


DEFAULT_GROUPS: tuple[MetaFeatureGroup, ...] = tuple(MetaFeatureGroup)

_SUMMARIES = ("Mean", "Min", "Max", "Quartile1", "Quartile2", "Quartile3")

_GROUP_NAMES: dict[MetaFeatureGroup, tuple[str, ...]] = {
    MetaFeatureGroup.SIMPLE: (
        "NumberOfInstances",
        "NumberOfFeatures",
        "NumberOfClasses",
        "NumberOfNumericFeatures",
        "NumberOfSymbolicFeatures",
        "NumberOfBinaryFeatures",
        "NumberOfMissingValues",
        "NumberOfInstancesWithMissingValues",
        "PercentageOfNumericFeatures",
        "PercentageOfSymbolicFeatures",
        "PercentageOfBinaryFeatures",
        "PercentageOfMissingValues",
        "PercentageOfInstancesWithMissingValues",
        "Dimensionality",
        "MajorityClassSize",
        "MinorityClassSize",
        "MajorityClassPercentage",
        "MinorityClassPercentage",
        "MaxNominalAttDistinctValues",
        "MeanNominalAttDistinctValues",
        "MinNominalAttDistinctValues",
        "AutoCorrelation",
    ),
    MetaFeatureGroup.STATISTICAL: tuple(
        f"{summary}{stat}OfNumericAtts"
        for stat in ("Means", "StdDev", "Skewness", "Kurtosis")
        for summary in _SUMMARIES
    ),
    MetaFeatureGroup.INFORMATION: (
        "ClassEntropy",
        *(f"{summary}AttributeEntropy" for summary in _SUMMARIES),
        *(f"{summary}MutualInformation" for summary in _SUMMARIES),
        "EquivalentNumberOfAtts",
        "MeanNoiseToSignalRatio",
    ),
    MetaFeatureGroup.LANDMARKING: LANDMARK_NAMES,
}

OPENML_QUALITY_NAMES: tuple[str, ...] = (
    _GROUP_NAMES[MetaFeatureGroup.SIMPLE]
    + _GROUP_NAMES[MetaFeatureGroup.STATISTICAL]
    + _GROUP_NAMES[MetaFeatureGroup.INFORMATION]
)
"""The meta-features that follow OpenML's names and definitions (landmarkers excluded)."""


@dataclass(frozen=True, eq=False)
class _EncodedTable:
    """A raw table typed and encoded for meta-feature computation.

    Attributes:
        numeric: ``(n, p)`` float values of the numeric attributes, NaN where missing.
        nominal: ``(n, q)`` level codes of the nominal attributes, -1 where missing.
        declared_levels: ``(q,)`` number of levels each nominal attribute declares (the
            categories of a ``category`` column, else the distinct values seen).
        target: ``(n,)`` class codes, -1 where missing.
        n_classes: number of declared classes.
        n_missing: missing cells, target included.
        n_rows_with_missing: rows with at least one missing cell, target included.
    """

    numeric: np.ndarray
    nominal: np.ndarray
    declared_levels: np.ndarray
    target: np.ndarray
    n_classes: int
    n_missing: int
    n_rows_with_missing: int


def compute_meta_features(
    data: RawTable | DataLike,
    target: TargetLike = None,
    *,
    groups: Iterable[MetaFeatureGroup | str] = DEFAULT_GROUPS,
    seed: int = 0,
    landmark_rows: int = 5000,
    cache_dir: str | os.PathLike[str] | None = None,
    pymfe_groups: Iterable[str] = (),
) -> dict[str, float]:
    """Compute meta-features of a classification table, under OpenML's quality names.

    Args:
        data: a :class:`~tunegym.data.RawTable`, or anything :func:`tunegym.data.read_table`
            reads (a spec such as ``"keel:german"``, a file, a DataFrame, an array, ``(X, y)``).
        target: the class column or labels, for files, DataFrames and arrays.
        groups: which groups to compute (:class:`MetaFeatureGroup` or their names).
        seed: seed of the landmarkers' subsample and cross-validation folds.
        landmark_rows: landmarkers run on a random subsample of at most this many rows.
        cache_dir: root of the OpenML cache, for ``openml:`` specs.
        pymfe_groups: extra groups computed by pymfe (extra ``metafeatures``), e.g.
            ``("model-based", "complexity")``; their features are added as ``pymfe.<name>``
            (summarised by their mean) on the same subsample the landmarkers use.

    Returns:
        ``{name: value}`` for every meta-feature of the requested groups, in
        :func:`meta_feature_names` order; NaN where a quality is undefined (e.g. the
        skewness summaries of a table without numeric attributes), as OpenML leaves it empty.

    Raises:
        ValueError: for an unknown group or ``landmark_rows`` below 10.
        DatasetError: for a table without rows or whose data cannot be read.

    Example:
        >>> mf = compute_meta_features("sklearn:iris", groups=["simple", "information"])
        >>> mf["NumberOfFeatures"], round(mf["ClassEntropy"], 4)
        (5.0, 1.585)
    """
    chosen = _check_groups(groups)
    if landmark_rows < 10:
        raise ValueError(f"landmark_rows must be at least 10; got {landmark_rows}.")
    table = data if isinstance(data, RawTable) else read_table(data, target, cache_dir=cache_dir)
    encoded = _encode_table(table)
    result: dict[str, float] = {}
    for group in chosen:
        values = _compute_group(group, encoded, seed=seed, landmark_rows=landmark_rows)
        result.update({name: values[name] for name in _GROUP_NAMES[group]})
    if pymfe_groups:
        result.update(_pymfe(encoded, tuple(pymfe_groups), seed=seed, max_rows=landmark_rows))
    return result


def _pymfe(
    encoded: _EncodedTable, groups: tuple[str, ...], *, seed: int, max_rows: int
) -> dict[str, float]:
    """pymfe's meta-features of ``groups`` (means over attributes), named ``pymfe.<name>``."""
    if isinstance(groups, str):
        raise TypeError(f"pymfe_groups must be a collection of group names; got {groups!r}.")
    try:
        from pymfe.mfe import MFE
    except ImportError as error:
        raise MissingExtraError("pymfe", "metafeatures", "pymfe meta-features") from error
    valid = MFE.valid_groups()
    for group in groups:
        if group not in valid:
            raise ValueError(
                f"Unknown pymfe group {group!r}; pymfe knows {list(valid)}."
                f"{did_you_mean(group, valid)}"
            )
    numeric = encoded.numeric.copy()
    if numeric.size:  # pymfe takes no NaN: missing numeric values get their column's median
        medians = np.nan_to_num(
            np.nanmedian(np.where(np.isnan(numeric).all(0), 0.0, numeric), axis=0)
        )
        numeric = np.where(np.isnan(numeric), medians, numeric)
    X = np.hstack([numeric, encoded.nominal]).astype(np.float64)
    y = np.asarray(encoded.target)
    if len(y) > max_rows:
        rows = np.random.default_rng(seed).choice(len(y), size=max_rows, replace=False)
        X, y = X[rows], y[rows]
    mfe = MFE(groups=list(groups), summary=["mean"], random_state=seed)
    mfe.fit(X, y, suppress_warnings=True)
    names, values = mfe.extract(suppress_warnings=True)
    return {
        f"pymfe.{n}": float(v) if v is not None else float("nan")
        for n, v in zip(names, values, strict=True)
    }


def meta_feature_names(
    groups: Iterable[MetaFeatureGroup | str] = DEFAULT_GROUPS,
) -> tuple[str, ...]:
    """Names :func:`compute_meta_features` returns for ``groups``, in order."""
    return tuple(name for group in _check_groups(groups) for name in _GROUP_NAMES[group])


def _compute_group(
    group: MetaFeatureGroup, encoded: _EncodedTable, *, seed: int, landmark_rows: int
) -> dict[str, float]:
    if group is MetaFeatureGroup.SIMPLE:
        return _simple(encoded)
    if group is MetaFeatureGroup.STATISTICAL:
        return _statistical(encoded.numeric)
    if group is MetaFeatureGroup.INFORMATION:
        return _information(encoded)
    return landmark(
        encoded.numeric,
        encoded.nominal,
        encoded.target,
        encoded.n_classes,
        seed=seed,
        max_rows=landmark_rows,
    )


def _check_groups(groups: Iterable[MetaFeatureGroup | str]) -> tuple[MetaFeatureGroup, ...]:
    if isinstance(groups, str):
        raise TypeError(f"groups must be a collection of group names; got the string {groups!r}.")
    known = [g.value for g in MetaFeatureGroup]
    chosen: list[MetaFeatureGroup] = []
    for group in groups:
        if group not in known:
            raise ValueError(
                f"Unknown meta-feature group {group!r}; known groups: {known}."
                f"{did_you_mean(str(group), known)}"
            )
        if MetaFeatureGroup(group) not in chosen:
            chosen.append(MetaFeatureGroup(group))
    return tuple(chosen)


def _encode_table(table: RawTable) -> _EncodedTable:
    """Type the columns of a raw table as OpenML would and encode them.

    ``category``, ``bool`` and text columns are nominal (a text column whose values all parse
    as numbers is numeric); numeric dtypes are numeric. The target is always nominal.

    Raises:
        DatasetError: for a table without rows.
    """
    features = table.features
    if len(features) == 0:
        raise DatasetError(f"Table {table.name!r} has no rows; meta-features need at least one.")
    numeric: list[np.ndarray] = []
    nominal: list[np.ndarray] = []
    declared: list[int] = []
    for name in features.columns:
        column = features[name]
        values = _as_numbers(column)
        if values is not None:
            numeric.append(values)
        else:
            codes, levels = _as_codes(column)
            nominal.append(codes)
            declared.append(levels)
    target, n_classes = _as_codes(table.target)
    missing = np.column_stack([features.isna().to_numpy(), table.target.isna().to_numpy()])
    n = len(features)
    return _EncodedTable(
        numeric=np.column_stack(numeric) if numeric else np.empty((n, 0)),
        nominal=np.column_stack(nominal) if nominal else np.empty((n, 0), dtype=np.int64),
        declared_levels=np.asarray(declared, dtype=np.int64),
        target=target,
        n_classes=n_classes,
        n_missing=int(missing.sum()),
        n_rows_with_missing=int(missing.any(axis=1).sum()),
    )


def _as_numbers(column: pd.Series) -> np.ndarray | None:
    if isinstance(column.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(column):
        return None
    if not pd.api.types.is_numeric_dtype(column):
        present = column.dropna()
        if len(present) == 0 or pd.to_numeric(present, errors="coerce").isna().any():
            return None
        column = pd.to_numeric(column, errors="coerce")
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isfinite(values), values, np.nan)


def _as_codes(column: pd.Series) -> tuple[np.ndarray, int]:
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy(dtype=np.int64), len(column.cat.categories)
    codes, levels = pd.factorize(column, use_na_sentinel=True)
    return codes.astype(np.int64), len(levels)


def _simple(t: _EncodedTable) -> dict[str, float]:
    n, n_numeric = len(t.target), t.numeric.shape[1]
    n_features = n_numeric + t.nominal.shape[1] + 1
    n_symbolic = t.nominal.shape[1] + 1
    n_binary = int((t.declared_levels == 2).sum()) + int(t.n_classes == 2)
    class_counts = np.bincount(t.target[t.target >= 0], minlength=t.n_classes)
    distinct = [_n_distinct(t.nominal[:, j]) for j in range(t.nominal.shape[1])]
    distinct.append(_n_distinct(t.target))
    labelled = t.target[t.target >= 0]
    return {
        "NumberOfInstances": float(n),
        "NumberOfFeatures": float(n_features),
        "NumberOfClasses": float(t.n_classes),
        "NumberOfNumericFeatures": float(n_numeric),
        "NumberOfSymbolicFeatures": float(n_symbolic),
        "NumberOfBinaryFeatures": float(n_binary),
        "NumberOfMissingValues": float(t.n_missing),
        "NumberOfInstancesWithMissingValues": float(t.n_rows_with_missing),
        "PercentageOfNumericFeatures": 100.0 * n_numeric / n_features,
        "PercentageOfSymbolicFeatures": 100.0 * n_symbolic / n_features,
        "PercentageOfBinaryFeatures": 100.0 * n_binary / n_features,
        "PercentageOfMissingValues": 100.0 * t.n_missing / (n * n_features),
        "PercentageOfInstancesWithMissingValues": 100.0 * t.n_rows_with_missing / n,
        "Dimensionality": n_features / n,
        "MajorityClassSize": _max(class_counts),
        "MinorityClassSize": _min(class_counts),
        "MajorityClassPercentage": 100.0 * _max(class_counts) / n,
        "MinorityClassPercentage": 100.0 * _min(class_counts) / n,
        "MaxNominalAttDistinctValues": float(max(distinct)),
        "MeanNominalAttDistinctValues": float(np.mean(distinct)),
        "MinNominalAttDistinctValues": float(min(distinct)),
        # Share of consecutive rows with the same class: it depends on the row order.
        "AutoCorrelation": float(np.mean(labelled[1:] == labelled[:-1]))
        if len(labelled) > 1
        else np.nan,
    }


def _statistical(numeric: np.ndarray) -> dict[str, float]:
    stats: dict[str, list[float]] = {"Means": [], "StdDev": [], "Skewness": [], "Kurtosis": []}
    for j in range(numeric.shape[1]):
        x = numeric[:, j]
        x = x[~np.isnan(x)]
        if len(x) == 0:
            continue
        n = len(x)
        mean = float(x.mean())
        stats["Means"].append(mean)
        stats["StdDev"].append(float(x.std(ddof=1)) if n > 1 else 0.0)
        # Constant attributes have no skewness or kurtosis; OpenML leaves them out.
        if n < 3 or x.min() == x.max():
            continue
        d = x - mean
        m2, m3, m4 = (d**2).mean(), (d**3).mean(), (d**4).mean()
        stats["Skewness"].append(float(np.sqrt(n * (n - 1)) / (n - 2) * m3 / m2**1.5))
        if n > 3:
            stats["Kurtosis"].append(
                float((n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * m4 / m2**2 - 3 * (n - 1)))
            )
    result: dict[str, float] = {}
    for stat, values in stats.items():
        result.update(_summarise(values, f"{stat}OfNumericAtts"))
    return result


def _information(t: _EncodedTable) -> dict[str, float]:
    class_entropy = _entropy(t.target)
    entropies = [_entropy(t.nominal[:, j]) for j in range(t.nominal.shape[1])]
    mutual = [_mutual_information(t.nominal[:, j], t.target) for j in range(t.nominal.shape[1])]
    result = {"ClassEntropy": class_entropy}
    result.update(_summarise(entropies, "AttributeEntropy"))
    result.update(_summarise(mutual, "MutualInformation"))
    mean_mi = result["MeanMutualInformation"]
    with np.errstate(divide="ignore", invalid="ignore"):
        result["EquivalentNumberOfAtts"] = float(np.float64(class_entropy) / mean_mi)
        result["MeanNoiseToSignalRatio"] = float(
            (np.float64(result["MeanAttributeEntropy"]) - mean_mi) / mean_mi
        )
    return result


def _summarise(values: list[float], what: str) -> dict[str, float]:
    """OpenML's six summaries of per-attribute values, named ``<summary><what>``."""
    if not values:
        return {f"{summary}{what}": np.nan for summary in _SUMMARIES}
    v = np.asarray(values)
    # The p * (n + 1) quantile rule ("weibull"), that of Apache Commons Math's Percentile.
    q1, q2, q3 = np.percentile(v, [25, 50, 75], method="weibull")
    summaries = (v.mean(), v.min(), v.max(), q1, q2, q3)
    return {f"{s}{what}": float(x) for s, x in zip(_SUMMARIES, summaries, strict=True)}


def _n_distinct(codes: np.ndarray) -> int:
    return len(np.unique(codes[codes >= 0]))


def _entropy(codes: np.ndarray) -> float:
    """Entropy (bits) of the observed values; missing values are left out."""
    counts = np.bincount(codes[codes >= 0])
    return _entropy_of_counts(counts)


def _entropy_of_counts(counts: np.ndarray) -> float:
    total = counts.sum()
    if total == 0:
        return np.nan
    p = counts[counts > 0] / total
    return float(-(p * np.log2(p)).sum())


def _mutual_information(codes: np.ndarray, target: np.ndarray) -> float:
    """Mutual information (bits) over the rows where both the attribute and class are known."""
    both = (codes >= 0) & (target >= 0)
    x, y = codes[both], target[both]
    if len(x) == 0:
        return np.nan
    joint = np.bincount(x * (y.max() + 1) + y)
    return (
        _entropy_of_counts(np.bincount(x))
        + _entropy_of_counts(np.bincount(y))
        - _entropy_of_counts(joint)
    )


def _max(counts: np.ndarray) -> float:
    return float(counts.max()) if len(counts) else np.nan


def _min(counts: np.ndarray) -> float:
    return float(counts.min()) if len(counts) else np.nan
