"""The raw table every source produces before cleaning, preprocessing and splitting."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

__all__ = ["RawTable"]


@dataclass(frozen=True, eq=False)
class RawTable:
    """Features and target of one classification table, as read from its source.

    Attributes:
        features: one column per raw feature, named; dtypes as read (``category`` marks a column
            its source declares nominal).
        target: the class labels, one per row (a ``category`` dtype fixes the class order).
        source: ``"sklearn"``, ``"keel"``, ``"openml"``, ``"file"``, ``"dataframe"`` or ``"array"``.
        name: the name inside that source.
        spec: the spec string that reloads it, or ``None`` for in-memory data.
        openml_id: the OpenML dataset id, where known.
        extra: source-specific details (KEEL collection, file path, OpenML name ...).
    """

    features: pd.DataFrame
    target: pd.Series
    source: str
    name: str
    spec: str | None
    openml_id: int | None = None
    extra: dict[str, str] = field(default_factory=dict)
