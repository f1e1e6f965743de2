"""Task meta-features the observation carries (a fixed, small, documented set).

The meta-store (a later part) computes OpenML's qualities; the env needs only a handful of cheap
numbers that tell a policy how big and how hard a dataset is, each scaled to about ``[0, 1]``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from tunegym.data import TabularDataset

__all__ = ["META_FEATURE_NAMES", "task_meta_features"]

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
