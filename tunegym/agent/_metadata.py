"""The meta-dataset the agent learns from: curves, meta-features, parts, and leave-one-out priors.

The warm-start prior a dataset's observation carries is computed as `tunegym.metastore`'s warm
start does for a new dataset (``warm_start_snapshot``): its ``k`` nearest datasets by
meta-features (`nearest_datasets`), then the distance-weighted normalised score of every grid
configuration on them (`compute_warm_start`). Here the target is always *left out*: its own
curves, its family (``dataset_family``: siblings share its data) and every dataset outside the
allowed candidates never count (``BENCHMARK_PROTOCOL.md``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from tunegym.envs import DEFAULT_K_CHOICES, META_FEATURE_NAMES, SearchSpace
from tunegym.errors import did_you_mean
from tunegym.metastore import (
    ENV_FEATURE_PREFIX,
    SNAPSHOT_DIR,
    SPLIT_PARTS,
    WarmStart,
    compute_warm_start,
    dataset_family,
    load_snapshot,
    nearest_datasets,
    snapshot_meta_features,
)

__all__ = ["MetaDataset"]

_IDENTITY = ("openml_did", "family", "part")


def _env_features(curves: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """The env's meta-features stored in a curve table's header (zeros where absent)."""
    stored = curves.attrs.get("tunegym", {}).get("datasets", {})
    rows = {}
    for name in names:
        values = stored.get(name, {}).get("meta_features")
        ok = values is not None and len(values) == len(META_FEATURE_NAMES)
        rows[name] = list(values) if ok else [0.0] * len(META_FEATURE_NAMES)
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(META_FEATURE_NAMES))


@dataclass(frozen=True, eq=False)
class MetaDataset:
    """Recorded curves of many datasets with their meta-features and meta-train/val/test parts.

    Attributes:
        curves: the curve table (``tunegym.envs`` format) of every dataset.
        features: one row per dataset (index: its spec), one column per meta-feature; the
            neighbours of the warm start are found on these.
        parts: dataset -> ``"meta-train"``, ``"meta-val"`` or ``"meta-test"``.
        provenance: where the data comes from (recorded beside a trained agent).
        openml_dids: each dataset's OpenML id where known (twins are never neighbours).
    """

    curves: pd.DataFrame
    features: pd.DataFrame
    parts: Mapping[str, str]
    provenance: Mapping[str, Any] = field(default_factory=dict)
    openml_dids: Mapping[str, int | None] = field(default_factory=dict)
    _by_name: dict[str, pd.DataFrame] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        names = set(self.curves["dataset"].astype(str).unique())
        unknown = sorted(set(self.parts) - names)
        if unknown:
            raise ValueError(
                f"{len(unknown)} datasets of the split have no curves, e.g. {unknown[:3]}."
                + did_you_mean(unknown[0], names)
            )
        bad = sorted({p for p in self.parts.values() if p not in SPLIT_PARTS})
        if bad:
            raise ValueError(f"Unknown split parts {bad}; use {list(SPLIT_PARTS)}.")
        missing = sorted(set(self.parts) - set(map(str, self.features.index)))
        if missing:
            raise ValueError(f"{len(missing)} datasets lack meta-features, e.g. {missing[:3]}.")
        # One table per dataset, split once: warm starts read many neighbours' curves.
        header = dict(self.curves.attrs.get("tunegym", {}))
        stored = header.pop("datasets", {})
        by_name: dict[str, pd.DataFrame] = {}
        for name, part in self.curves.groupby("dataset", observed=True, sort=False):
            frame = part.reset_index(drop=True)
            # Only this dataset's header: pandas deep-copies attrs on every operation.
            frame.attrs = {"tunegym": {**header, "datasets": {name: stored.get(name, {})}}}
            by_name[str(name)] = frame
        object.__setattr__(self, "_by_name", by_name)

    @classmethod
    def from_curves(
        cls,
        curves: pd.DataFrame,
        parts: Mapping[str, str],
        features: pd.DataFrame | None = None,
        *,
        provenance: Mapping[str, Any] | None = None,
    ) -> MetaDataset:
        """A meta-dataset from a curve table, e.g. one recorded with ``record_curves``.

        Args:
            curves: the curves of every dataset of ``parts``.
            parts: dataset -> split part.
            features: meta-features per dataset; ``None`` uses the env's meta-features stored
                in the curves' header.
            provenance: recorded beside an agent trained on it (default ``{"source": "curves"}``).
        """
        table = features if features is not None else _env_features(curves, sorted(parts))
        return cls(
            curves=curves,
            features=table,
            parts=dict(parts),
            provenance=dict(provenance or {"source": "curves", "datasets": len(parts)}),
        )

    @classmethod
    def from_snapshot(cls, path: str | Path | None = None) -> MetaDataset:
        """The meta-dataset snapshot (default: the one shipped in `tunegym.metastore`).

        Raises:
            FileNotFoundError: no snapshot there.
        """
        folder = SNAPSHOT_DIR if path is None else Path(path)
        table = snapshot_meta_features(folder)
        curves = load_snapshot(path=folder)
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        digest = hashlib.sha256((folder / "curves.parquet").read_bytes()).hexdigest()
        dids = {
            str(name): None if pd.isna(did) else int(did)
            for name, did in table["openml_did"].items()
        }
        env_columns = [c for c in table.columns if str(c).startswith(ENV_FEATURE_PREFIX)]
        features = table.drop(columns=[*_IDENTITY, *env_columns])
        recorded = set(curves["dataset"].unique())
        parts = {str(d): str(p) for d, p in table["part"].items() if d in recorded}
        provenance = {
            "source": "snapshot",
            "path": "shipped with tunegym" if path is None else str(path),
            "created": manifest.get("created"),
            "counts": manifest.get("counts"),
            "curves_sha256": digest,
        }
        return cls(curves, features, parts, provenance, dids)

    @property
    def space(self) -> SearchSpace:
        """The grid the curves cover (``E_max`` = their longest curve)."""
        e_max = int(self.curves["epoch"].max())
        return SearchSpace(
            lrs=tuple(sorted(float(v) for v in self.curves["lr"].unique())),
            batch_sizes=tuple(sorted(int(v) for v in self.curves["batch_size"].unique())),
            max_epochs=e_max,
            k_choices=tuple(k for k in DEFAULT_K_CHOICES if k <= e_max),
        )

    @property
    def seeds(self) -> tuple[int, ...]:
        """The trial seeds recorded."""
        return tuple(sorted(int(s) for s in self.curves["seed"].unique()))

    def datasets(self, *parts: str) -> list[str]:
        """The datasets of the given parts (all when none is given), sorted."""
        return sorted(d for d, p in self.parts.items() if not parts or p in parts)

    def curves_of(self, dataset: str) -> pd.DataFrame:
        """One dataset's curves (with the table's header in ``attrs``)."""
        if dataset not in self._by_name:
            raise ValueError(
                f"No curves for {dataset!r} in this meta-dataset."
                + did_you_mean(dataset, list(self._by_name))
            )
        return self._by_name[dataset]

    def warm_start(
        self,
        target: str,
        candidates: Sequence[str],
        space: SearchSpace,
        *,
        k: int = 5,
        metric: str = "val_accuracy",
    ) -> WarmStart:
        """Warm start of ``target`` from ``candidates``, leaving out the target and its family.

        Args:
            target: a dataset of this meta-dataset.
            candidates: datasets allowed as neighbours (e.g. the meta-train part).
            space: the grid of the prior and portfolio.
            k: neighbours.
            metric: validation metric of the curves.
        """
        family = dataset_family(target)
        allowed = [c for c in candidates if c != target and dataset_family(c) != family]
        if not allowed:
            return compute_warm_start(target, [], self.curves_of, space.lrs, space.batch_sizes)
        row = pd.to_numeric(cast(pd.Series, self.features.loc[target]), errors="coerce").dropna()
        values = {str(name): float(value) for name, value in row.items()}
        neighbors = nearest_datasets(
            self.features.loc[allowed],
            values,
            k=k,
            exclude=[target],
            openml_dids=dict(self.openml_dids) or None,
            target_did=self.openml_dids.get(target),
        )
        return compute_warm_start(
            target, neighbors, self.curves_of, space.lrs, space.batch_sizes, metric=metric
        )

    def priors(
        self,
        targets: Sequence[str],
        candidates: Sequence[str],
        space: SearchSpace,
        *,
        k: int = 5,
        metric: str = "val_accuracy",
    ) -> dict[str, np.ndarray]:
        """Leave-one-out warm-start prior of every target (see `warm_start`)."""
        return {t: self.warm_start(t, candidates, space, k=k, metric=metric).prior for t in targets}
