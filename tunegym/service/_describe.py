"""`describe`: a dataset's description for the service, computed where the data is."""

from __future__ import annotations

import math
from typing import Any

from tunegym.service._schemas import DatasetDescription

__all__ = ["describe"]


def describe(
    data: Any,
    target: Any = None,
    *,
    name: str | None = None,
    openml_did: int | None = None,
    groups: tuple[str, ...] | None = None,
) -> DatasetDescription:
    """Meta-features of a table under OpenML's names, ready to send (the data stays here).

    Args:
        data: anything `tunegym.metastore.compute_meta_features` takes: ``(X, y)``, a
            DataFrame or array with ``target``, a file, or a dataset spec.
        target: the class column or labels, for DataFrames, arrays and files.
        name: a name to store reported runs under.
        openml_did: the dataset's OpenML id, if it has one.
        groups: meta-feature groups (default: all of tunegym's, landmarkers included).

    Example:
        >>> from sklearn.datasets import load_iris
        >>> description = describe(*load_iris(return_X_y=True))
        >>> description.meta_features["NumberOfClasses"]
        3.0
    """
    from tunegym.metastore import DEFAULT_GROUPS, compute_meta_features

    values = compute_meta_features(data, target, groups=groups or DEFAULT_GROUPS)
    finite = {k: float(v) for k, v in values.items() if v is not None and math.isfinite(v)}
    return DatasetDescription(name=name, openml_did=openml_did, meta_features=finite)
