"""``schema_fingerprint``: one hash of a dataset's raw feature columns and their types."""

from __future__ import annotations

import hashlib
import json
from typing import Final

from tunegym.data._dataset import DatasetInfo

__all__ = ["schema_fingerprint"]

_TAG: Final = "tunegym.schema/1"


def schema_fingerprint(info: DatasetInfo) -> str:
    """SHA-256 (hex) of the raw feature schema: the ordered feature names, each numeric or not.

    Datasets with equal fingerprints have the same raw inputs under the same names and types,
    so a network trained on one takes the other's rows input for input (after each dataset's
    own preprocessing): KEEL's relabelled siblings ``keel:yeast1`` and ``keel:yeast3`` share
    one. The labels, the rows and the categorical levels are not part of it, and it says
    nothing of where the data came from: KEEL names its columns by position (``f0``, ``f1``,
    ...), so two unrelated KEEL tables of as many numeric columns share a fingerprint too. Use
    it to check that transfer between two related datasets is input-compatible, not to find
    related datasets (:func:`tunegym.metastore.dataset_family` does that).

    Args:
        info: the ``info`` of a dataset from :func:`load_dataset` (which records the typing).

    Returns:
        64 hex characters.

    Raises:
        ValueError: ``info`` does not say which columns are numeric (it was built by hand);
            build it with ``numeric_features``/``categorical_features`` or use ``load_dataset``.

    Example:
        >>> from tunegym.data import load_dataset
        >>> a, b = (load_dataset(spec).info for spec in ("keel:yeast1", "keel:yeast3"))
        >>> schema_fingerprint(a) == schema_fingerprint(b)
        True
    """
    numeric, categorical = set(info.numeric_features), set(info.categorical_features)
    names = info.feature_names
    untyped = [name for name in names if (name in numeric) == (name in categorical)]
    if untyped or len(numeric) + len(categorical) != len(names):
        raise ValueError(
            f"DatasetInfo of {info.spec or info.name!r} does not type every feature column once "
            f"(numeric_features={info.numeric_features}, categorical_features="
            f"{info.categorical_features}, feature_names={names}); load the dataset with "
            "load_dataset, or give every feature name in exactly one of the two."
        )
    schema = [[name, "numeric" if name in numeric else "categorical"] for name in names]
    text = json.dumps([_TAG, schema], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
