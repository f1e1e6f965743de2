"""``load_dataset``, ``iter_folds`` and ``describe_dataset``: read, clean, split, preprocess."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from tunegym.data._dataset import DatasetInfo, TabularDataset
from tunegym.data._preprocess import (
    FittedPreprocessor,
    TypedFeatures,
    encode_target,
    fit_preprocessor,
    type_columns,
)
from tunegym.data._rows import (
    check_parts_have_classes,
    check_split_mode,
    row_draws,
    rows_cv_split,
    rows_fold_split,
    rows_holdout_split,
    rows_subsample,
)
from tunegym.data._sources import DataLike, TargetLike, read_data
from tunegym.data._split import (
    Split,
    check_class_counts,
    cv_split,
    fold_split,
    holdout_split,
    min_rows_per_class,
    subsample,
)
from tunegym.data._table import RawTable
from tunegym.errors import DatasetError

__all__ = ["DatasetDescription", "cv_folds", "describe_dataset", "iter_folds", "load_dataset"]


@dataclass(frozen=True)
class DatasetDescription:
    """What ``tunegym datasets show SPEC`` prints about a dataset.

    Attributes:
        spec: the spec that reloads it (``None`` for in-memory data).
        source: ``"sklearn"``, ``"keel"``, ``"openml"``, ``"file"``, ``"dataframe"``, ``"array"``.
        collection: KEEL's ``"balanced"``/``"imbalanced"``, else ``None``.
        name: the name inside its source.
        n_rows: rows used (after ``max_rows``).
        n_raw_features: raw feature columns (target excluded).
        n_numeric: numeric raw feature columns.
        n_categorical: categorical raw feature columns.
        n_missing: missing feature values (cells) in the rows used.
        classes: ``(label, rows)`` per class, in label-encoded order.
        openml_id: the OpenML dataset id, where known.
        n_train: rows of the training part.
        n_val: rows of the validation part.
        n_test: rows of the test part.
        n_features: width of the preprocessed feature matrix.
    """

    spec: str | None
    source: str
    collection: str | None
    name: str
    n_rows: int
    n_raw_features: int
    n_numeric: int
    n_categorical: int
    n_missing: int
    classes: tuple[tuple[str, int], ...]
    openml_id: int | None
    n_train: int
    n_val: int
    n_test: int
    n_features: int


@dataclass(frozen=True, eq=False)
class _Prepared:
    table: RawTable
    what: str  # how messages name the data: "'keel:german'", "the dataframe"
    typed: TypedFeatures
    codes: np.ndarray  # label code of every row of the raw table
    class_names: tuple[str, ...]
    class_labels: tuple[Any, ...]  # the same classes as the target held them
    rows: np.ndarray  # positions of the rows used (all of them unless max_rows subsampled)
    draws: np.ndarray | None  # row_draws of every row of the raw table for split="rows", else None


def load_dataset(
    data: DataLike,
    target: TargetLike = None,
    *,
    seed: int = 0,
    val_size: float = 0.2,
    test_size: float = 0.2,
    n_folds: int | None = None,
    fold: int | None = None,
    max_rows: int | None = None,
    min_frequency: int = 5,
    max_categories: int | None = 20,
    cache_dir: str | os.PathLike[str] | None = None,
    split: str = "stratified",
) -> TabularDataset:
    """Load a classification dataset, split it and preprocess it for a neural network.

    Args:
        data: a spec (``"sklearn:iris"``, ``"keel:german"``, ``"keel:imbalanced/pima"``,
            ``"openml:31"``), a path to a ``.csv``/``.tsv``/``.parquet`` file, a pandas
            DataFrame, a 2-D numpy array, or an ``(X, y)`` tuple.
        target: for a file or DataFrame, the name of the class column; for an array or
            DataFrame of features, the labels (one per row); for ``openml:`` specs, a column
            overriding the dataset's default target; ``None`` otherwise.
        seed: seeds every random choice (subsample, split, folds): same seed, same split.
        val_size: share of all rows for validation.
        test_size: share of all rows for test (hold-out mode; k-fold mode uses the fold).
        n_folds: number of stratified folds; with ``fold``, the fold ``fold`` is the test part
            and val is carved from the other folds.
        fold: which fold (``0 .. n_folds-1``) is the test part.
        max_rows: if the table has more rows, a stratified sample of this many is used
            (``split="rows"``: the rows with the smallest seeded hash draws).
        min_frequency: categorical levels seen fewer times in training are pooled into
            ``<column>_other``.
        max_categories: at most this many one-hot columns per categorical column, the pooled
            ``_other`` included (``None``: no limit).
        cache_dir: OpenML cache root (default ``$TUNEGYM_OPENML_CACHE`` or
            ``~/.cache/tunegym/openml``).
        split: ``"stratified"`` (the default): parts (and folds, and the ``max_rows`` sample)
            stratified by class, drawn for this table alone. ``"rows"``: each row's part is a
            seeded hash of its feature values (not its label or position), so a row is in the
            same part in every table that holds it: use it for datasets of one family (KEEL's
            relabelled siblings) when a model trained on one is fine-tuned on another, so that
            no test row of the target was trained on. Shares then hold on average, not exactly,
            and a class missing from a part is an error. See ``tunegym/data/_rows.py``.

    Returns:
        The dataset: ``float32`` features and ``int64`` labels for train/val/test, with the
        preprocessing (impute, one-hot, standardise) fitted on the training part only.

    Raises:
        DatasetError: the data is unusable as given (the message says why and what to do).
        DatasetNotFoundError: no dataset of that name or file of that path.
        TypeError: ``data`` or ``target`` has the wrong type.
        ValueError: a split argument is out of range, or ``split`` is unknown.

    Example:
        >>> ds = load_dataset("sklearn:iris", seed=1)
        >>> ds.X_train.dtype, ds.n_classes
        (torch.float32, 3)
        >>> load_dataset("keel:yeast1", split="rows").split  # same rows, same parts as yeast3
        'rows'
    """
    _check_args(seed, val_size, test_size, n_folds, fold, max_rows, min_frequency, max_categories)
    mode = check_split_mode(split)
    if (n_folds is None) != (fold is None):
        raise ValueError(
            f"Pass n_folds and fold together (got n_folds={n_folds}, fold={fold}); "
            "iter_folds() yields every fold."
        )
    prepared = _prepare(data, target, seed, max_rows, n_folds, cache_dir, mode)
    test = (n_folds, fold) if n_folds is not None and fold is not None else test_size
    parts = _split(prepared, seed, val_size, test)
    return _materialise(prepared, parts, seed, n_folds, fold, min_frequency, max_categories)


def iter_folds(
    data: DataLike,
    target: TargetLike = None,
    *,
    n_folds: int = 5,
    seed: int = 0,
    val_size: float = 0.2,
    max_rows: int | None = None,
    min_frequency: int = 5,
    max_categories: int | None = 20,
    cache_dir: str | os.PathLike[str] | None = None,
    split: str = "stratified",
) -> Iterator[TabularDataset]:
    """Yield the ``n_folds`` datasets of a stratified k-fold split, fold 0 first.

    The table is read once; fold ``i`` equals ``load_dataset(..., n_folds=n_folds, fold=i)``.
    Arguments are those of :func:`load_dataset`, and are checked when this is called.

    Example:
        >>> [len(ds.y_test) for ds in iter_folds("sklearn:iris", n_folds=3)]
        [50, 50, 50]
    """
    _check_args(seed, val_size, None, n_folds, 0, max_rows, min_frequency, max_categories)
    mode = check_split_mode(split)
    prepared = _prepare(data, target, seed, max_rows, n_folds, cache_dir, mode)

    def folds() -> Iterator[TabularDataset]:
        for i in range(n_folds):
            parts = _split(prepared, seed, val_size, (n_folds, i))
            yield _materialise(prepared, parts, seed, n_folds, i, min_frequency, max_categories)

    return folds()


def cv_folds(
    data: DataLike,
    target: TargetLike = None,
    *,
    n_folds: int = 5,
    seed: int = 0,
    test_size: float = 0.2,
    max_rows: int | None = None,
    min_frequency: int = 5,
    max_categories: int | None = 20,
    cache_dir: str | os.PathLike[str] | None = None,
    split: str = "stratified",
) -> list[TabularDataset]:
    """The ``n_folds`` datasets of k-fold cross-validation for tuning, beside a hold-out test part.

    The rows that `load_dataset` (same ``seed`` and ``test_size``) holds out for test are held
    out here too and are the test part of every fold; the other rows are split into ``n_folds``
    stratified folds, and dataset ``i`` validates on fold ``i`` and trains on the rest (its
    preprocessing fitted on those training rows only). A configuration's cross-validated score
    is the mean of its validation scores over the datasets. Arguments are those of
    :func:`load_dataset`; with ``split="rows"`` the test part and the folds are row-consistent
    (the test part is then ``load_dataset(..., split="rows")``'s, and a row's fold is a seeded
    hash of its feature values).

    Raises:
        DatasetError: a class too rare to appear in every fold (the message says what to do).

    Example:
        >>> folds = cv_folds("sklearn:iris", n_folds=3)
        >>> [len(ds.y_val) for ds in folds], len({tuple(ds.indices_test) for ds in folds})
        ([40, 40, 40], 1)
    """
    _check_args(seed, None, test_size, n_folds, 0, max_rows, min_frequency, max_categories)
    mode = check_split_mode(split)
    prepared = _prepare(data, target, seed, max_rows, n_folds + 1, cache_dir, mode)
    codes = prepared.codes[prepared.rows]
    datasets = []
    for i in range(n_folds):
        if prepared.draws is not None:
            parts = rows_cv_split(prepared.draws[prepared.rows], n_folds, i, test_size)
            check_parts_have_classes(codes, prepared.class_names, parts, prepared.what)
        else:
            try:
                parts = cv_split(codes, n_folds, i, test_size, seed)
            except ValueError as err:
                raise DatasetError(
                    f"Cannot split {prepared.what} ({len(codes)} rows, "
                    f"{len(prepared.class_names)} classes) into {n_folds} stratified folds "
                    f"beside a test part: {err} Use fewer folds (cv), a smaller test_size or "
                    "more rows."
                ) from err
        rows = prepared.rows
        parts = Split(rows[parts.train], rows[parts.val], rows[parts.test])
        dataset = _materialise(prepared, parts, seed, n_folds, i, min_frequency, max_categories)
        datasets.append(replace(dataset, fold_part="val"))
    return datasets


def describe_dataset(
    data: DataLike,
    target: TargetLike = None,
    *,
    seed: int = 0,
    val_size: float = 0.2,
    test_size: float = 0.2,
    max_rows: int | None = None,
    min_frequency: int = 5,
    max_categories: int | None = 20,
    cache_dir: str | os.PathLike[str] | None = None,
    split: str = "stratified",
) -> DatasetDescription:
    """Describe a dataset: provenance, columns, classes, missing values and split sizes.

    Arguments are those of :func:`load_dataset`; the split sizes are of its hold-out split.

    Example:
        >>> describe_dataset("keel:german").classes
        (('1', 700), ('2', 300))
    """
    _check_args(seed, val_size, test_size, None, None, max_rows, min_frequency, max_categories)
    mode = check_split_mode(split)
    prepared = _prepare(data, target, seed, max_rows, None, cache_dir, mode)
    parts = _split(prepared, seed, val_size, test_size)
    dataset = _materialise(prepared, parts, seed, None, None, min_frequency, max_categories)
    info = dataset.info
    counts = np.bincount(prepared.codes[prepared.rows], minlength=len(info.class_names))
    return DatasetDescription(
        spec=info.spec,
        source=info.source,
        collection=info.extra.get("collection"),
        name=info.name,
        n_rows=info.n_rows,
        n_raw_features=info.n_raw_features,
        n_numeric=info.n_numeric,
        n_categorical=info.n_categorical,
        n_missing=int(prepared.typed.frame.iloc[prepared.rows].isna().to_numpy().sum()),
        classes=tuple((name, int(n)) for name, n in zip(info.class_names, counts, strict=True)),
        openml_id=info.openml_id,
        n_train=len(dataset.y_train),
        n_val=len(dataset.y_val),
        n_test=len(dataset.y_test),
        n_features=dataset.n_features,
    )


def _check_args(
    seed: int,
    val_size: float | None,
    test_size: float | None,
    n_folds: int | None,
    fold: int | None,
    max_rows: int | None,
    min_frequency: int,
    max_categories: int | None,
) -> None:
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int; got {type(seed).__name__} {seed!r}.")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32); got {seed}.")
    for name, share in (("val_size", val_size), ("test_size", test_size)):
        if share is not None and not 0 < share < 1:
            raise ValueError(f"{name} must be a share of the rows in (0, 1); got {share!r}.")
    if n_folds is not None:
        if not isinstance(n_folds, int) or n_folds < 2:
            raise ValueError(f"n_folds must be an int >= 2; got {n_folds!r}.")
        if fold is not None and not (isinstance(fold, int) and 0 <= fold < n_folds):
            raise ValueError(f"fold must be an int in [0, {n_folds - 1}]; got {fold!r}.")
        if val_size is not None and val_size + 1 / n_folds >= 1:
            raise ValueError(
                f"val_size={val_size} leaves no training rows beside a 1/{n_folds} test fold."
            )
    elif test_size is not None and val_size is not None and val_size + test_size >= 1:
        raise ValueError(
            f"val_size + test_size must be < 1 to leave training rows; got {val_size} + {test_size}."
        )
    if max_rows is not None and (not isinstance(max_rows, int) or max_rows < 1):
        raise ValueError(f"max_rows must be a positive int or None; got {max_rows!r}.")
    if not isinstance(min_frequency, int) or min_frequency < 1:
        raise ValueError(f"min_frequency must be an int >= 1; got {min_frequency!r}.")
    if max_categories is not None and (not isinstance(max_categories, int) or max_categories < 2):
        raise ValueError(f"max_categories must be an int >= 2 or None; got {max_categories!r}.")


def _prepare(
    data: DataLike,
    target: TargetLike,
    seed: int,
    max_rows: int | None,
    n_folds: int | None,
    cache_dir: str | os.PathLike[str] | None,
    mode: str,
) -> _Prepared:
    table = read_data(data, target, cache_dir)
    what = f"'{table.spec}'" if table.spec else f"the {table.source}"
    features = table.features.reset_index(drop=True)
    if len(features) == 0:
        raise DatasetError(f"{what} is empty: it has no rows.")
    if features.shape[1] == 0:
        raise DatasetError(f"{what} has no feature columns besides the target.")
    typed = type_columns(features, what)
    codes, class_names, class_labels = encode_target(table.target.reset_index(drop=True), what)
    min_count = min_rows_per_class(n_folds)
    fix = "Drop or merge those classes before loading"
    fewer_folds = " or use fewer folds." if min_count > min_rows_per_class(None) else "."
    check_class_counts(codes, class_names, min_count, what, fix + fewer_folds)
    rows = np.arange(len(codes))
    draws = row_draws(typed.frame, seed) if mode == "rows" else None
    if max_rows is not None and max_rows < len(rows):
        rows = (
            subsample(codes, max_rows, seed) if draws is None else rows_subsample(draws, max_rows)
        )
        check_class_counts(
            codes[rows],
            class_names,
            min_count,
            f"{what} with max_rows={max_rows}",
            "Raise max_rows, or drop or merge those classes before loading.",
        )
    return _Prepared(table, what, typed, codes, class_names, class_labels, rows, draws)


def _split(prepared: _Prepared, seed: int, val_size: float, test: float | tuple[int, int]) -> Split:
    """Split the rows used; ``test`` is the test share, or ``(n_folds, fold)``."""
    codes = prepared.codes[prepared.rows]
    if prepared.draws is not None:
        draws = prepared.draws[prepared.rows]
        if isinstance(test, tuple):
            split = rows_fold_split(draws, test[0], test[1], val_size)
        else:
            split = rows_holdout_split(draws, val_size, test)
        check_parts_have_classes(codes, prepared.class_names, split, prepared.what)
        rows = prepared.rows
        return Split(rows[split.train], rows[split.val], rows[split.test])
    try:
        if isinstance(test, tuple):
            split = fold_split(codes, test[0], test[1], val_size, seed)
        else:
            split = holdout_split(codes, val_size, test, seed)
    except ValueError as err:
        # scikit-learn refuses a part too small to hold every class once.
        raise DatasetError(
            f"Cannot split {prepared.what} ({len(codes)} rows, "
            f"{len(prepared.class_names)} classes) stratified: {err} Use larger val_size/"
            "test_size, fewer folds or more rows."
        ) from err
    rows = prepared.rows
    return Split(rows[split.train], rows[split.val], rows[split.test])


def _materialise(
    prepared: _Prepared,
    split: Split,
    seed: int,
    n_folds: int | None,
    fold: int | None,
    min_frequency: int,
    max_categories: int | None,
) -> TabularDataset:
    frame = prepared.typed.frame
    transformer, names_out = fit_preprocessor(
        frame.iloc[split.train],
        prepared.typed,
        min_frequency=min_frequency,
        max_categories=max_categories,
    )

    def features(rows: np.ndarray) -> torch.Tensor:
        matrix = transformer.transform(frame.iloc[rows])
        return torch.from_numpy(np.ascontiguousarray(matrix, dtype=np.float32))

    def labels(rows: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(prepared.codes[rows].astype(np.int64))

    table = prepared.table
    extra = dict(table.extra)
    if len(prepared.rows) < len(prepared.codes):
        extra["subsampled_from"] = str(len(prepared.codes))
    info = DatasetInfo(
        source=table.source,
        name=table.name,
        spec=table.spec,
        openml_id=table.openml_id,
        n_rows=len(prepared.rows),
        n_raw_features=frame.shape[1],
        n_numeric=len(prepared.typed.numeric),
        n_categorical=len(prepared.typed.categorical),
        n_classes=len(prepared.class_names),
        feature_names=tuple(str(c) for c in frame.columns),
        class_names=prepared.class_names,
        class_labels=prepared.class_labels,
        extra=extra,
        numeric_features=tuple(str(c) for c in prepared.typed.numeric),
        categorical_features=tuple(str(c) for c in prepared.typed.categorical),
    )
    return TabularDataset(
        info=info,
        X_train=features(split.train),
        y_train=labels(split.train),
        X_val=features(split.val),
        y_val=labels(split.val),
        X_test=features(split.test),
        y_test=labels(split.test),
        feature_names_out=names_out,
        indices_train=split.train,
        indices_val=split.val,
        indices_test=split.test,
        seed=int(seed),
        fold=fold,
        n_folds=n_folds,
        preprocessor=FittedPreprocessor(
            columns=tuple(frame.columns),
            numeric=prepared.typed.numeric,
            categorical=prepared.typed.categorical,
            transformer=transformer,
        ),
        split="stratified" if prepared.draws is None else "rows",
    )
