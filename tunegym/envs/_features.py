"""Task meta-features the observation carries (a fixed, small, documented set).

The meta-store (a later part) computes OpenML's qualities; the env needs only a handful of cheap
numbers that tell a policy how big and how hard a dataset is, each scaled to about ``[0, 1]``.
"""

from __future__ import annotations

import csv
import functools
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from tunegym.data import TabularDataset

__all__ = [
    "LCBENCH_META_FILE",
    "META_FEATURE_NAMES",
    "lcbench_meta_features",
    "qualities_meta_features",
    "task_meta_features",
]

LCBENCH_META_FILE = Path(__file__).parents[1] / "data" / "lcbench_meta_features.csv"
"""The meta-features of LCBench's tasks, from OpenML's published qualities of their datasets
(as LCDB ships them; ``python experiments/lcbench_meta_features.py`` writes the file)."""

META_FEATURE_NAMES: tuple[str, ...] = (
    "log10_rows_over_6",  # log10(rows) / 6: 1e6 rows -> 1
    "log10_features_over_4",  # log10(preprocessed width) / 4: 10,000 features -> 1
    "classes_over_50",  # number of classes / 50, capped at 1
    "majority_class_fraction",
    "class_entropy_normalised",  # entropy of the class distribution / log(classes)
    "categorical_fraction",  # raw categorical columns / raw columns
)


def task_meta_features(dataset: TabularDataset) -> np.ndarray:
    """The observation's meta-features of ``dataset`` (see ``META_FEATURE_NAMES``), float32."""
    info = dataset.info
    y = torch.cat([dataset.y_train, dataset.y_val, dataset.y_test])
    counts = torch.bincount(y, minlength=dataset.n_classes).double()
    p = counts / counts.sum()
    p = p[p > 0]
    entropy = float(-(p * p.log()).sum())
    n_classes = max(dataset.n_classes, 2)
    values = (
        math.log10(max(len(y), 1)) / 6.0,
        math.log10(max(dataset.n_features, 1)) / 4.0,
        min(dataset.n_classes / 50.0, 1.0),
        float(counts.max() / counts.sum()),
        entropy / math.log(n_classes),
        info.n_categorical / max(info.n_raw_features, 1),
    )
    return np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)


def qualities_meta_features(q: Mapping[str, float]) -> npt.NDArray[np.float32]:
    """The meta-features (``META_FEATURE_NAMES``) of a dataset from its OpenML qualities.

    ``NumberOfInstances``, ``NumberOfFeatures`` (with the target), ``NumberOfClasses``,
    ``MajorityClassSize``, ``ClassEntropy`` (bits) and ``NumberOfSymbolicFeatures`` (with a
    nominal target). Where OpenML left ``ClassEntropy`` empty, the entropy of the majority
    class, the minority class (``MinorityClassSize``) and the rest shared alike by the other
    classes (exact up to three classes). The width is the raw attributes', where
    `task_meta_features` reads the one-hot width: the two agree on numeric tables.

    Raises:
        KeyError: a quality is missing (the message names it).
    """
    q = {k: v for k, v in q.items() if math.isfinite(v)}
    if "ClassEntropy" not in q and {"MajorityClassSize", "MinorityClassSize"} <= set(q):
        q["ClassEntropy"] = _class_entropy(q)
    need = ("NumberOfInstances", "NumberOfFeatures", "NumberOfClasses", "MajorityClassSize",
            "ClassEntropy", "NumberOfSymbolicFeatures")  # fmt: skip
    missing = [n for n in need if n not in q]
    if missing:
        raise KeyError(f"OpenML qualities {missing} are needed for the meta-features.")
    rows, classes = q["NumberOfInstances"], max(q["NumberOfClasses"], 2.0)
    features = max(q["NumberOfFeatures"] - 1, 1.0)  # less the target
    values = (
        math.log10(max(rows, 1.0)) / 6.0,
        math.log10(features) / 4.0,
        min(q["NumberOfClasses"] / 50.0, 1.0),
        q["MajorityClassSize"] / max(rows, 1.0),
        q["ClassEntropy"] / math.log2(classes),
        max(q["NumberOfSymbolicFeatures"] - 1, 0.0) / features,
    )
    return np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)


def _class_entropy(q: Mapping[str, float]) -> float:
    rows, k = q["NumberOfInstances"], int(q.get("NumberOfClasses", 2))
    top, bottom = q["MajorityClassSize"], q["MinorityClassSize"]
    rest = max(rows - top - bottom, 0.0)
    sizes = [top, bottom, *([rest / (k - 2)] * (k - 2) if k > 2 else [])]
    p = np.asarray([s for s in sizes if s > 0]) / rows
    return float(-(p * np.log2(p)).sum())


@functools.cache
def lcbench_meta_features() -> dict[str, npt.NDArray[np.float32]]:
    """LCBench's tasks' meta-features by task name (``lcbench:<OpenML name>``), from
    `LCBENCH_META_FILE` (empty where it is absent)."""
    if not LCBENCH_META_FILE.is_file():
        return {}
    with LCBENCH_META_FILE.open(newline="") as f:
        return {
            row["task"]: np.asarray([float(row[n]) for n in META_FEATURE_NAMES], dtype=np.float32)
            for row in csv.DictReader(f)
        }
