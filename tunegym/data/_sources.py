"""Turn what a user passes to ``load_dataset`` (spec, path, DataFrame, arrays) into a raw table."""

from __future__ import annotations

import codecs
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from tunegym.data._keel import KEEL_COLLECTIONS, keel_names, read_keel, resolve_keel_name
from tunegym.data._leakage import check_no_target_copy
from tunegym.data._openml import read_openml
from tunegym.data._openml_ids import openml_id_for
from tunegym.data._table import RawTable
from tunegym.errors import DatasetError, DatasetNotFoundError, did_you_mean

__all__ = [
    "FILE_SUFFIXES",
    "SKLEARN_NAMES",
    "SOURCES",
    "DataLike",
    "TargetLike",
    "keel_spec",
    "listing_hint",
    "read_data",
    "read_keel_table",
    "read_sklearn",
    "read_table",
]

DataLike: TypeAlias = str | os.PathLike[str] | pd.DataFrame | np.ndarray | tuple[Any, Any]
TargetLike: TypeAlias = str | ArrayLike | None

SOURCES = ("sklearn", "keel", "openml")
SKLEARN_NAMES = ("breast_cancer", "digits", "iris", "wine")
FILE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")

# Missing-value markers of a CSV file besides pandas' defaults ("", "NA", "nan", ...):
# "?" is how UCI- and KEEL-style tables write them.
_CSV_NA = ("?",)

# What a CSV/TSV file that is not UTF-8 is read as, in order: Windows' Western European code
# page (Excel's default export there), then Latin-1, which decodes any bytes.
_FALLBACK_ENCODINGS = ("cp1252", "latin-1")

_PARQUET_MAGIC = b"PAR1"


def read_data(
    data: DataLike, target: TargetLike, cache_dir: str | os.PathLike[str] | None
) -> RawTable:
    """Read ``data`` (see ``load_dataset``) into a raw table, validating ``target`` on the way."""
    if isinstance(data, tuple):
        if len(data) != 2:
            raise TypeError(f"A tuple of data must be (X, y); got a tuple of {len(data)} items.")
        if target is not None:
            raise TypeError("Pass either (X, y) or X with target=y, not both.")
        data, target = data
        if not isinstance(data, np.ndarray | pd.DataFrame):
            raise TypeError(
                f"In (X, y), X must be a numpy array or a pandas DataFrame; got {type(data).__name__}."
            )
    if isinstance(data, pd.DataFrame):
        features, labels = _split_frame(data, target, "the DataFrame")
        return RawTable(features, labels, source="dataframe", name="dataframe", spec=None)
    if isinstance(data, np.ndarray):
        return _from_array(data, target)
    if isinstance(data, os.PathLike):
        return _read_file(Path(data), target)
    if isinstance(data, str):
        if Path(data).suffix.lower() in FILE_SUFFIXES or Path(data).is_file():
            return _read_file(Path(data), target)
        return _read_spec(data, target, cache_dir)
    raise TypeError(
        "data must be a spec string ('keel:german', 'sklearn:iris', 'openml:31'), a path to a "
        ".csv/.parquet file, a pandas DataFrame, a numpy array or an (X, y) tuple; "
        f"got {type(data).__name__}."
    )


def read_table(
    data: DataLike, target: TargetLike = None, *, cache_dir: str | os.PathLike[str] | None = None
) -> RawTable:
    """Read a dataset as its raw table: the features and labels as the source holds them.

    Nothing is cleaned, imputed, encoded or split; this is the table OpenML computes its data
    qualities on, and what :func:`tunegym.metastore.compute_meta_features` reads.

    Args:
        data: what :func:`load_dataset` accepts: a spec (``"keel:german"``, ``"sklearn:iris"``,
            ``"openml:31"``), a ``.csv``/``.parquet`` path, a DataFrame, an array, or ``(X, y)``.
        target: the class column of a file or DataFrame, or the labels of an array.
        cache_dir: root of the OpenML cache (see :func:`openml_cache_dir`).

    Returns:
        The raw table, with its source, name, spec and OpenML id where known.

    Raises:
        DatasetError: for data that cannot be read (the message says why).

    Example:
        >>> table = read_table("sklearn:iris")
        >>> table.features.shape, table.openml_id
        ((150, 4), 61)
    """
    return read_data(data, target, cache_dir)


def listing_hint(source: str | None = None) -> str:
    """Where to see the datasets of ``source`` (all sources if ``None``): the command and the
    Python call, for a message to end with; users meet these messages on either side.

    Example:
        >>> print(listing_hint("keel"))  # doctest: +NORMALIZE_WHITESPACE
        `tunegym datasets list --source keel` lists them
        (in Python: tunegym.data.list_datasets('keel')).
    """
    option, argument = ("", "") if source is None else (f" --source {source}", repr(source))
    return (
        f"`tunegym datasets list{option}` lists them "
        f"(in Python: tunegym.data.list_datasets({argument}))."
    )


def _read_spec(spec: str, target: TargetLike, cache_dir: str | os.PathLike[str] | None) -> RawTable:
    source, sep, ref = spec.partition(":")
    if not sep:
        raise DatasetNotFoundError(
            f"{spec!r} is neither a dataset spec nor an existing .csv/.parquet file. Specs look "
            f"like 'keel:german', 'sklearn:iris' or 'openml:31'.{did_you_mean(spec, _known_specs())}"
            f" {listing_hint()}"
        )
    if source not in SOURCES:
        raise DatasetError(
            f"Unknown dataset source {source!r} in {spec!r}; known sources: {list(SOURCES)} "
            f"(or give a path to a .csv/.parquet file).{did_you_mean(source, SOURCES)} "
            f"{listing_hint()}"
        )
    if source == "openml":
        if target is not None and not isinstance(target, str):
            raise TypeError(
                f"For {spec!r}, target= may only name a column; got {type(target).__name__}."
            )
        return read_openml(ref, target, cache_dir)
    if target is not None:
        raise DatasetError(
            f"{spec!r} defines its own target; target= is only for files, DataFrames and arrays "
            f"(got target={target if isinstance(target, str) else type(target).__name__!r})."
        )
    return read_sklearn(ref) if source == "sklearn" else read_keel_table(ref)


def _known_specs() -> list[str]:
    keel = {name for collection in KEEL_COLLECTIONS for name in keel_names(collection)}
    return [f"sklearn:{n}" for n in SKLEARN_NAMES] + [f"keel:{n}" for n in sorted(keel)]


def read_sklearn(name: str) -> RawTable:
    """Read one of scikit-learn's bundled classification sets (offline)."""
    from sklearn import datasets

    loaders: dict[str, Callable[..., Any]] = {
        "breast_cancer": datasets.load_breast_cancer,
        "digits": datasets.load_digits,
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
    }
    if name not in loaders:
        raise DatasetNotFoundError(
            f"Unknown scikit-learn dataset 'sklearn:{name}'; available: {list(SKLEARN_NAMES)}."
            f"{did_you_mean(name, SKLEARN_NAMES)} {listing_hint('sklearn')}"
        )
    bunch = loaders[name](as_frame=True)
    # A categorical target keeps scikit-learn's class order (0 = target_names[0], ...).
    labels = pd.Categorical.from_codes(bunch.target.to_numpy(), categories=bunch.target_names)
    spec = f"sklearn:{name}"
    return RawTable(
        features=bunch.data,
        target=pd.Series(labels, name="target"),
        source="sklearn",
        name=name,
        spec=spec,
        openml_id=openml_id_for(spec),
    )


def keel_spec(collection: str, name: str) -> str:
    """The canonical spec of a KEEL table: ``keel:<name>``, or with the collection when needed."""
    return (
        f"keel:{name}"
        if resolve_keel_name(name) == (collection, name)
        else f"keel:{collection}/{name}"
    )


def _unknown_keel(ref: str) -> str:
    """The message for an unknown KEEL name: near misses, then where to list the names."""
    collection, _, name = ref.rpartition("/")
    choices = keel_names(collection) if collection else sorted(set(_all_keel_names()))
    return f"Unknown KEEL dataset 'keel:{ref}'.{did_you_mean(name, choices)} {listing_hint('keel')}"


def _all_keel_names() -> list[str]:
    return [name for collection in KEEL_COLLECTIONS for name in keel_names(collection)]


def read_keel_table(ref: str) -> RawTable:
    """Read a KEEL raw table named ``"name"`` or ``"collection/name"``."""
    try:
        collection, name = resolve_keel_name(ref)
    except DatasetNotFoundError:
        raise DatasetNotFoundError(_unknown_keel(ref)) from None
    frame = read_keel(collection, name)
    spec = keel_spec(collection, name)
    return RawTable(
        features=frame.drop(columns=["class"]),
        target=frame["class"],
        source="keel",
        name=name,
        spec=spec,
        openml_id=openml_id_for(spec),
        extra={"collection": collection},
    )


def _read_file(path: Path, target: TargetLike) -> RawTable:
    suffix = path.suffix.lower()
    if suffix not in FILE_SUFFIXES:
        raise DatasetError(
            f"Unsupported file type {suffix!r} for '{path}'; use one of {list(FILE_SUFFIXES)}."
        )
    if not path.is_file():
        raise DatasetNotFoundError(f"No such file: '{path}'.")
    extra = {"path": str(path)}
    if suffix in (".csv", ".tsv"):
        frame, encoding = _read_text_table(path, "\t" if suffix == ".tsv" else ",")
        if encoding != "utf-8":
            extra["encoding"] = encoding
    else:
        frame = _read_parquet(path)
    features, labels = _split_frame(frame, target, f"'{path}'")
    return RawTable(
        features=features,
        target=labels,
        source="file",
        name=path.stem,
        spec=str(path),
        extra=extra,
    )


def _read_text_table(path: Path, sep: str) -> tuple[pd.DataFrame, str]:
    """Read a CSV/TSV file as UTF-8, else as the first of ``_FALLBACK_ENCODINGS`` that decodes it.

    Returns:
        The table and the encoding it was read with.
    """
    kind = "TSV" if sep == "\t" else "CSV"
    with path.open("rb") as file:
        head = file.read(1 << 16)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings: tuple[str, ...] = ("utf-16",)
    elif b"\x00" in head:
        raise DatasetError(
            f"'{path}' is not a {kind} text file: it holds NUL bytes (a binary file, e.g. "
            "Parquet or Excel, under a text name?). Give it the suffix of its format, or export "
            "it as CSV."
        )
    else:
        encodings = ("utf-8", *_FALLBACK_ENCODINGS)
    for encoding in encodings:
        try:
            frame = pd.read_csv(
                path, sep=sep, na_values=list(_CSV_NA), skipinitialspace=True, encoding=encoding
            )
        except UnicodeDecodeError:
            continue
        except pd.errors.EmptyDataError:
            raise DatasetError(f"The file '{path}' is empty.") from None
        except pd.errors.ParserError as err:
            reason = str(err).strip().splitlines()[0]
            raise DatasetError(
                f"Cannot read '{path}' as {kind}: {reason}. Check that every row has as many "
                f"fields as the header and that text with a {sep!r} in it is quoted."
            ) from None
        if encoding not in ("utf-8", "utf-16"):
            warnings.warn(
                f"'{path}' is not UTF-8 text; it was read as {encoding} (Western European). "
                "Check its non-ASCII labels, or save it as UTF-8.",
                UserWarning,
                stacklevel=6,  # load_dataset's caller
            )
        return frame, encoding
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


def _read_parquet(path: Path) -> pd.DataFrame:
    with path.open("rb") as file:
        head = file.read(4)
        file.seek(max(path.stat().st_size - 4, 0))
        tail = file.read(4)
    if head != _PARQUET_MAGIC or tail != _PARQUET_MAGIC:
        raise DatasetError(
            f"'{path}' is not a Parquet file (it lacks Parquet's {_PARQUET_MAGIC.decode()!r} "
            f"marker{_looks_like(path)}). Write it with DataFrame.to_parquet, or give a CSV "
            "file a .csv name."
        )
    try:
        return pd.read_parquet(path)
    except (ValueError, OSError) as err:  # pyarrow's ArrowInvalid is a ValueError
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DatasetError(
            f"Cannot read '{path}' as Parquet ({reason}); the file may be truncated or damaged: "
            "write it again with DataFrame.to_parquet."
        ) from err


def _looks_like(path: Path) -> str:
    with path.open("rb") as file:
        head = file.read(4096)
    if not head:
        return "; it is empty"
    if b"\x00" in head:
        return ""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head)  # a cut last character is fine
    except UnicodeDecodeError:
        return ""
    return "; it looks like text, e.g. CSV"


def _split_frame(
    frame: pd.DataFrame, target: TargetLike, what: str
) -> tuple[pd.DataFrame, pd.Series]:
    columns = [str(c) for c in frame.columns]
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise DatasetError(f"{what} has duplicated column names: {duplicated}.")
    frame = frame.set_axis(columns, axis=1).reset_index(drop=True)
    if target is None:
        raise DatasetError(
            f"{what} needs target=: the name of its class column (columns: {_short(columns)})."
        )
    if isinstance(target, str):
        if target not in columns:
            raise DatasetError(
                f"Target column {target!r} not found in {what}; available columns: "
                f"{_short(columns)}.{did_you_mean(target, columns)}"
            )
        features, labels = frame.drop(columns=[target]), frame[target]
        check_no_target_copy(features, labels, what)
        return features, labels
    return frame, _target_series(target, len(frame))


def _from_array(X: np.ndarray, target: TargetLike) -> RawTable:
    if X.ndim != 2:
        raise DatasetError(f"X must be a 2-D array (rows x features); got shape {X.shape}.")
    if target is None:
        raise DatasetError("An array needs its labels: load_dataset(X, y) or load_dataset((X, y)).")
    if isinstance(target, str):
        raise TypeError(
            f"For an array X, target must be the label array; got the string {target!r}."
        )
    features = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    labels = _target_series(target, len(features))
    return RawTable(features, labels, source="array", name="array", spec=None)


def _target_series(target: ArrayLike, n_rows: int) -> pd.Series:
    if isinstance(target, pd.Series):
        series = target.reset_index(drop=True)
    else:
        values = np.asarray(target)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1:
            raise DatasetError(
                f"The target must be 1-D (one label per row); got shape {values.shape}."
            )
        series = pd.Series(values)
    if len(series) != n_rows:
        raise DatasetError(
            f"The target has {len(series)} labels but the features have {n_rows} rows."
        )
    return series if series.name is not None else series.rename("target")


def _short(names: list[str], limit: int = 20) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return f"[{shown}]" if len(names) <= limit else f"[{shown}, ...] ({len(names)} in all)"
