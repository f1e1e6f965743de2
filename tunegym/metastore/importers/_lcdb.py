"""Read the files of the ``lcdb`` package (Learning Curve Database): OpenML qualities, curves.

LCDB (Mohr et al., 2022) ships, as plain CSV files inside its PyPI package,

- ``datasets.csv``: OpenML's published qualities of its 219 OpenML datasets, one row per
  dataset (``openmlid``, ``Name``, then one column per quality);
- ``database-<metric>.csv`` (``accuracy``, ``auc``, ``f1``, ``logloss``): learning curves of 20
  scikit-learn learners, one row per (dataset, learner, training-set size, outer split seed,
  inner split seed) with the train, validation and test scores.

Only those CSV files are read, with pandas, lazily; the package's code and pickles are never
imported or loaded. ``database-accuracy.csv`` is 150 MB, so curves are read in chunks keeping
only the requested learner's rows.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tunegym.errors import MissingExtraError, did_you_mean
from tunegym.metastore.importers._openml import OpenMLQuality

__all__ = [
    "LCDB_METRICS",
    "MLP_LEARNER",
    "LcdbCurvePoint",
    "LcdbQuality",
    "lcdb_dir",
    "read_lcdb_curves",
    "read_lcdb_qualities",
]

LCDB_METRICS = ("accuracy", "auc", "f1", "logloss")
MLP_LEARNER = "sklearn.neural_network.MLPClassifier"

# A column of datasets.csv that LCDB computed itself; it is not one of OpenML's qualities.
_LCDB_OWN_COLUMNS = frozenset({"NumberOfFeaturesAfterBinarization"})

_CURVE_DTYPES = {
    "openmlid": "int64",
    "learner": "category",
    "size_train": "int64",
    "size_test": "int64",
    "outer_seed": "int64",
    "inner_seed": "int64",
    "traintime": "float64",
    "score_train": "float64",
    "score_valid": "float64",
    "score_test": "float64",
}
_INT_COLUMNS = ("openmlid", "size_train", "size_test", "outer_seed", "inner_seed")
_FLOAT_COLUMNS = ("traintime", "score_train", "score_valid", "score_test")


# LCDB's datasets.csv is a copy of OpenML's published qualities: the same row as the OpenML reader's.
LcdbQuality = OpenMLQuality


@dataclass(frozen=True)
class LcdbCurvePoint:
    """One point of an LCDB learning curve: a learner trained on ``anchor`` rows of a dataset.

    LCDB splits each dataset into train+validation and test by ``outer_seed``, then the
    first part into train and validation by ``inner_seed``, and trains on the first ``anchor``
    rows of the training part.

    Attributes:
        openml_did: OpenML dataset id.
        learner: LCDB's learner name (``"sklearn.neural_network.MLPClassifier"`` ...).
        metric: ``"accuracy"``, ``"auc"``, ``"f1"`` or ``"logloss"``.
        anchor: training-set size (rows).
        size_test: test-set size (rows).
        outer_seed: seed of the outer (test) split.
        inner_seed: seed of the inner (validation) split.
        train_time_s: training time in seconds.
        score_train: score on the training rows (NaN where LCDB has none).
        score_valid: score on the validation rows.
        score_test: score on the test rows.
    """

    openml_did: int
    learner: str
    metric: str
    anchor: int
    size_test: int
    outer_seed: int
    inner_seed: int
    train_time_s: float
    score_train: float
    score_valid: float
    score_test: float


def lcdb_dir(root: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding LCDB's CSV files.

    Args:
        root: explicit folder (e.g. a copy of the files); by default, the installed package's.

    Raises:
        MissingExtraError: no ``root`` given and the ``lcdb`` package is not installed.
    """
    if root is not None:
        return Path(root)
    # find_spec locates the package without importing it (its __init__ imports openml,
    # matplotlib and more).
    spec = importlib.util.find_spec("lcdb")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError("lcdb", "lcdb", "Reading LCDB's learning curves and qualities")
    return Path(next(iter(spec.submodule_search_locations)))


def read_lcdb_qualities(
    root: str | os.PathLike[str] | None = None, *, datasets: Collection[int] | None = None
) -> Iterator[LcdbQuality]:
    """Yield OpenML's published qualities of LCDB's datasets, from its ``datasets.csv``.

    A quality OpenML left empty for a dataset (e.g. the skewness summaries of a table without
    numeric attributes) yields no row. LCDB's own ``NumberOfFeaturesAfterBinarization`` column
    is not an OpenML quality and is skipped.

    Args:
        root: folder holding LCDB's files (see :func:`lcdb_dir`).
        datasets: OpenML ids to keep; all 219 by default.

    Raises:
        MissingExtraError: the ``lcdb`` package is needed and not installed.
        FileNotFoundError: ``datasets.csv`` is not in the folder.

    Example:
        >>> rows = list(read_lcdb_qualities(datasets=[31]))
        >>> next(r.value for r in rows if r.quality == "NumberOfInstances")
        1000.0
    """
    frame = pd.read_csv(_file(root, "datasets.csv"))
    if datasets is not None:
        frame = frame[frame["openmlid"].isin(list(datasets))]
    qualities = [c for c in frame.columns if c not in {"openmlid", "Name", *_LCDB_OWN_COLUMNS}]
    long = frame.melt(id_vars=["openmlid", "Name"], value_vars=qualities, var_name="quality")
    long = long.dropna(subset=["value"])
    for did, name, quality, value in long.itertuples(index=False):
        yield LcdbQuality(int(did), str(name), str(quality), float(value))


def read_lcdb_curves(
    root: str | os.PathLike[str] | None = None,
    *,
    learner: str = MLP_LEARNER,
    metric: str = "accuracy",
    datasets: Collection[int] | None = None,
    chunksize: int = 500_000,
) -> Iterator[LcdbCurvePoint]:
    """Yield the learning-curve points of one learner from ``database-<metric>.csv``.

    The file is read in chunks of ``chunksize`` rows and only the learner's (and datasets')
    rows are kept, so memory stays at one chunk whatever the file size; reading the MLP's
    89,452 accuracy points out of the 150 MB file takes about 1.1 s (docs/METAFEATURES.md).

    Args:
        root: folder holding LCDB's files (see :func:`lcdb_dir`).
        learner: LCDB's learner name; the MLP by default.
        metric: which file: one of :data:`LCDB_METRICS`.
        datasets: OpenML ids to keep; all by default.
        chunksize: rows per chunk read.

    Raises:
        ValueError: an unknown metric, a non-positive chunk size, or a learner absent from the
            file (the message lists those present).
        MissingExtraError: the ``lcdb`` package is needed and not installed.
        FileNotFoundError: the metric's file is not in the folder.
    """
    if metric not in LCDB_METRICS:
        raise ValueError(
            f"Unknown LCDB metric {metric!r}; LCDB has {list(LCDB_METRICS)}."
            f"{did_you_mean(metric, LCDB_METRICS)}"
        )
    if chunksize < 1:
        raise ValueError(f"chunksize must be positive; got {chunksize}.")
    path = _file(root, f"database-{metric}.csv")
    wanted = None if datasets is None else list(datasets)
    learners: set[str] = set()
    found = False
    with pd.read_csv(path, dtype=_CURVE_DTYPES, chunksize=chunksize) as chunks:
        for chunk in chunks:
            learners.update(chunk["learner"].cat.categories)
            keep = chunk["learner"] == learner
            if wanted is not None:
                keep &= chunk["openmlid"].isin(wanted)
            rows = chunk[keep]
            ints = zip(*(rows[c].to_numpy().tolist() for c in _INT_COLUMNS), strict=True)
            floats = zip(*(rows[c].to_numpy().tolist() for c in _FLOAT_COLUMNS), strict=True)
            for (did, anchor, size_test, outer, inner), (secs, train, valid, test) in zip(
                ints, floats, strict=True
            ):
                found = True
                yield LcdbCurvePoint(
                    did, learner, metric, anchor, size_test, outer, inner, secs, train, valid, test
                )
    if not found and learner not in learners:
        raise ValueError(
            f"LCDB's {path.name} has no learner {learner!r}; it has {sorted(learners)}."
            f"{did_you_mean(learner, learners)}"
        )


def _file(root: str | os.PathLike[str] | None, name: str) -> Path:
    path = lcdb_dir(root) / name
    if not path.is_file():
        raise FileNotFoundError(f"LCDB file '{path}' not found; is the folder an LCDB copy?")
    return path
