"""The meta-dataset snapshot shipped inside the package: curves, meta-features, split.

Written from a meta-store by `write_snapshot` (``tunegym collect --snapshot DIR``), it is a
folder of four files:

* ``curves.parquet`` — the curve table of every dataset (``tunegym.envs`` format: one row per
  dataset, lr, batch size, seed and epoch), float32 metrics, dictionary-encoded labels, zstd;
  its schema metadata holds the ``attrs["tunegym"]`` header (model, env meta-features), so
  ``tunegym.envs.read_curves`` reads it too;
* ``meta_features.parquet`` — datasets × qualities (OpenML names, ``tunegym.*`` landmarkers and
  the env's features), with each dataset's OpenML id, family and split part;
* ``split.json`` — the meta-train / meta-val / meta-test split by family (`write_split`), of
  every dataset asked for, OpenML twins (`openml_twins`) included;
* ``manifest.json`` — the grid, seeds, row cap, model, counts and when it was made.

`load_snapshot` serves it to the replay backend (``make_tuning_env(spec, "replay")`` uses it by
default); `tunegym.metastore.warm_start_candidates` lays it under the user's store as the
read-only base of every warm start (``warm_start``, ``warm_start_snapshot``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tunegym.errors import did_you_mean
from tunegym.metastore._families import SPLIT_PARTS, read_split, write_split
from tunegym.metastore._store import MetaStore
from tunegym.metastore._values import CURVE_COLUMNS, OPTIONAL_CURVE_COLUMNS, config_columns

__all__ = [
    "LCBENCH_SNAPSHOT_DIR",
    "SNAPSHOT_DIR",
    "SnapshotStats",
    "load_snapshot",
    "openml_twins",
    "snapshot_meta_features",
    "snapshot_split",
    "snapshot_stats",
    "write_snapshot",
]

SNAPSHOT_DIR: Final = Path(__file__).parent / "snapshot"
LCBENCH_SNAPSHOT_DIR: Final = Path(__file__).parent / "snapshot_lcbench"
"""Meta-dataset v2: LCBench's space recorded with the live trainer (`docs/METADATASET.md`)."""
_CURVES, _FEATURES, _SPLIT, _MANIFEST = (
    "curves.parquet",
    "meta_features.parquet",
    "split.json",
    "manifest.json",
)
_FORMAT: Final = "tunegym.snapshot"
_CURVE_FORMAT: Final = "tunegym.curves"  # read by tunegym.envs.read_curves
_META_KEY: Final = b"tunegym"
_FLOAT_COLUMNS: Final = CURVE_COLUMNS[5:13]  # train_loss .. seconds (the grid's measures)


@dataclass(frozen=True)
class SnapshotStats:
    """What a snapshot holds.

    Attributes:
        datasets: datasets with curves.
        runs: curves (dataset × lr × batch size × seed).
        epochs: rows (one per epoch trained).
        diverged_runs: runs that diverged before ``E_max``.
        seeds: the trial seeds recorded.
        lrs: the grid's learning rates.
        batch_sizes: the grid's batch sizes.
        max_epochs: ``E_max``.
        size_bytes: the snapshot's files, in bytes.
        parts: datasets (with curves) per split part.
        twins: datasets not recorded because their OpenML dataset is, under another spec.
        hyperparameters: the configuration's columns (``lr``, ``batch_size`` on the grid).
        configs: distinct configurations over all datasets (``lrs`` × ``batch_sizes`` on the
            grid; off it ``lrs`` and ``batch_sizes`` are empty).
    """

    datasets: int
    runs: int
    epochs: int
    diverged_runs: int
    seeds: tuple[int, ...]
    lrs: tuple[float, ...]
    batch_sizes: tuple[int, ...]
    max_epochs: int
    size_bytes: int
    parts: dict[str, int]
    twins: dict[str, str]
    hyperparameters: tuple[str, ...] = ("lr", "batch_size")
    configs: int = 0


def openml_twins(store: MetaStore, specs: Sequence[str]) -> dict[str, str]:
    """Datasets of ``specs`` whose OpenML dataset the store keeps under another spec.

    The meta-store has one dataset per OpenML id, and ``keel:iris``/``sklearn:iris``,
    ``keel:wine``/``sklearn:wine`` and ``keel:wdbc``/``sklearn:breast_cancer`` are one OpenML
    dataset each (61, 187, 1510), shipped as two tables whose rows, hence splits, differ. Their
    curves cannot share one task, so only the first of each pair (stored first, else first in
    ``specs``) is collected.

    Returns:
        Twin spec -> the spec whose curves stand for that OpenML dataset.
    """
    from tunegym.data._openml_ids import openml_id_for

    stored = store.datasets()
    holder = {
        int(did): str(spec)
        for did, spec in zip(stored["openml_did"], stored["spec"], strict=True)
        if not pd.isna(did) and isinstance(spec, str)
    }
    twins: dict[str, str] = {}
    for spec in specs:
        did = openml_id_for(spec)
        if did is None:
            continue
        first = holder.setdefault(did, spec)
        if first != spec:
            twins[spec] = first
    return twins


def _labels(store: MetaStore) -> pd.DataFrame:
    """The store's datasets with their label (spec, else name); ``runs`` counts their runs."""
    frame = store.datasets()
    frame["label"] = frame["spec"].where(frame["spec"].notna(), frame["name"]).astype(str)
    return frame


def _compact(frame: pd.DataFrame) -> pd.DataFrame:
    """The curve table in its smallest faithful dtypes (lr stays float64: it is a grid key).

    Off the grid the configuration columns keep their values (float64 for real-valued ones,
    int32 for integers) so that a replayed candidate is the stored configuration exactly.
    """
    configs = config_columns(frame)
    measures = [c for c in CURVE_COLUMNS if c in frame.columns and c not in ("lr", "batch_size")]
    out = frame[["dataset", *configs, *measures[1:]]].copy()
    out["dataset"] = out["dataset"].astype("category")
    for column in configs:
        if pd.api.types.is_integer_dtype(out[column]):
            out[column] = out[column].astype(np.int32)
        elif pd.api.types.is_float_dtype(out[column]):
            out[column] = out[column].astype(np.float64)
    out["seed"] = out["seed"].astype(np.int32)
    out["epoch"] = out["epoch"].astype(np.int16)
    for column in _float_columns(out):
        out[column] = out[column].astype(np.float32)
    out["diverged"] = out["diverged"].astype(bool)
    return out


def _float_columns(frame: pd.DataFrame) -> list[str]:
    """The measures stored as float32: losses, scores and seconds."""
    return [c for c in _FLOAT_COLUMNS + OPTIONAL_CURVE_COLUMNS if c in frame.columns]


def _write_curves(curves: pd.DataFrame, header: dict[str, Any], path: Path) -> None:
    """Parquet as small as it goes: dictionary-coded keys, byte-stream-split floats, zstd 19."""
    arrow = pa.Table.from_pandas(curves, preserve_index=False)
    meta = {"format": _CURVE_FORMAT, "version": 1, **header}
    arrow = arrow.replace_schema_metadata(
        {**(arrow.schema.metadata or {}), _META_KEY: json.dumps(meta).encode()}
    )
    pq.write_table(
        arrow,
        path,
        compression="zstd",
        compression_level=19,
        use_dictionary=["dataset", *config_columns(curves), "seed", "epoch"],
        use_byte_stream_split=_float_columns(curves),
        row_group_size=1 << 20,
    )


def _meta_feature_table(
    store: MetaStore, table: pd.DataFrame, chosen: list[str], split: pd.DataFrame
) -> pd.DataFrame:
    """Datasets (``chosen``, by label) × qualities, led by OpenML id, family and split part."""
    features = store.meta_features()
    features.index = [table.loc[i, "label"] for i in features.index]
    features = features.reindex(chosen)
    parts = split.set_index("dataset").reindex(chosen)
    features.insert(0, "openml_did", table.set_index("label")["openml_did"].reindex(chosen))
    features.insert(1, "family", parts["family"])
    features.insert(2, "part", parts["part"])
    features.index.name = "dataset"
    return features


def write_snapshot(
    store: MetaStore,
    directory: str | Path,
    *,
    datasets: Sequence[str] | None = None,
    max_rows: int | None = None,
    split_seed: int = 0,
    split_file: str | Path | None = None,
    fixed_parts: Mapping[str, str] | None = None,
) -> SnapshotStats:
    """Write the store's curves and meta-features (or those of ``datasets``) as a snapshot.

    Args:
        store: the meta-store the curves were collected into (``tunegym collect``).
        directory: the snapshot folder (the package's own is `SNAPSHOT_DIR`).
        datasets: labels (specs) to include; ``None`` takes every dataset with runs.
        max_rows: the row cap the curves were collected with (recorded in the manifest).
        split_seed: seed of the family split (`family_split`).
        split_file: also write the split there (the repository keeps one under ``experiments/``).
        fixed_parts: family -> part of families assigned by another split (meta-dataset v2
            keeps v1's: a family held out there is held out here); see `family_split`.

    Raises:
        ValueError: if a dataset has no curves in the store.
    """
    table = _labels(store)
    with_runs = table[table["runs"] > 0]
    chosen = list(with_runs["label"]) if datasets is None else list(dict.fromkeys(datasets))
    twins = openml_twins(store, chosen)
    chosen = [c for c in chosen if c not in twins]
    frames = [store.curves(label) for label in chosen]
    header: dict[str, Any] = {"datasets": {}}
    for frame in frames:  # one flow: store.curves raises when a dataset has several
        attrs = frame.attrs["tunegym"]
        header |= {"model": attrs["model"], "flow": attrs["flow"]}
        header["datasets"] |= attrs["datasets"]
    curves = _compact(pd.concat(frames, ignore_index=True))
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    split = write_split(directory / _SPLIT, [*chosen, *twins], seed=split_seed, fixed=fixed_parts)
    if split_file is not None:
        write_split(split_file, [*chosen, *twins], seed=split_seed, fixed=fixed_parts)
    _write_curves(curves, header, directory / _CURVES)
    _meta_feature_table(store, table, chosen, split).to_parquet(
        directory / _FEATURES, compression="zstd"
    )
    configs = config_columns(curves)
    runs = curves.groupby(["dataset", *configs, "seed"], observed=True)
    grid = configs == ["lr", "batch_size"]
    manifest = {
        "format": _FORMAT,
        "version": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "max_rows": max_rows,
        "split_seed": split_seed,
        "hyperparameters": configs,
        "configs": len(curves[configs].drop_duplicates()),
        "lrs": sorted(float(v) for v in curves["lr"].unique()) if grid else [],
        "batch_sizes": sorted(int(v) for v in curves["batch_size"].unique()) if grid else [],
        "max_epochs": int(curves["epoch"].max()),
        "seeds": sorted(int(v) for v in curves["seed"].unique()),
        "model": header.get("model"),
        "flow": header.get("flow"),
        "twins": twins,
        "counts": {
            "datasets": len(chosen),
            "runs": int(runs.ngroups),
            "epochs": len(curves),
            "diverged_runs": int(runs["diverged"].any().sum()),
        },
    }
    (directory / _MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    _read_table.cache_clear()
    return snapshot_stats(directory)


def _folder(path: str | Path | None) -> Path:
    folder = SNAPSHOT_DIR if path is None else Path(path)
    if not (folder / _MANIFEST).exists():
        raise FileNotFoundError(
            f"No meta-dataset snapshot in {folder} (no {_MANIFEST}); write one with "
            "'tunegym collect --snapshot DIR' or tunegym.metastore.write_snapshot."
        )
    return folder


def _manifest(folder: Path) -> dict[str, Any]:
    return dict(json.loads((folder / _MANIFEST).read_text(encoding="utf-8")))


@cache
def _read_table(folder: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The snapshot's curve table (dataset categorical) and header, read once per folder."""
    table = pq.read_table(folder / _CURVES)
    header = json.loads((table.schema.metadata or {}).get(_META_KEY, b"{}"))
    frame = table.to_pandas()
    frame["dataset"] = frame["dataset"].astype("category")
    return frame, header


def load_snapshot(
    datasets: Sequence[str] | None = None, *, path: str | Path | None = None
) -> pd.DataFrame:
    """The snapshot's curves (all, or of ``datasets``) with their ``attrs["tunegym"]`` header.

    The table is what ``tunegym.envs.ReplayBackend`` and ``MetaStore.log_curves`` take; its
    ``dataset`` column holds plain strings.

    Args:
        datasets: specs to keep (``None``: all).
        path: a snapshot folder (default: the one shipped with the package).

    Raises:
        ValueError: for a dataset not in the snapshot (with a near miss).

    Example:
        >>> frame = load_snapshot(["sklearn:iris"])
        >>> len(frame), int(frame["epoch"].max())
        (3744, 16)
    """
    folder = _folder(path).resolve()
    frame, header = _read_table(folder)
    names = list(frame["dataset"].cat.categories)
    if datasets is not None:
        unknown = [d for d in datasets if d not in names]
        twins = _manifest(folder).get("twins", {})
        if unknown and unknown[0] in twins:
            raise ValueError(
                f"{unknown[0]!r} is the OpenML dataset recorded as {twins[unknown[0]]!r} (the "
                "meta-store keeps one per OpenML id); replay that one, or record this table "
                "into a store of its own with 'tunegym collect --datasets SPEC --store FILE'."
            )
        if unknown:
            raise ValueError(
                f"No curves for {unknown[0]!r} in the snapshot ({len(names)} datasets); record "
                "them with 'tunegym collect --datasets SPEC'." + did_you_mean(unknown[0], names)
            )
        frame = frame[frame["dataset"].isin(datasets)]
    out = frame.reset_index(drop=True)
    out["dataset"] = out["dataset"].astype(str)
    keep = set(out["dataset"].unique())
    out.attrs["tunegym"] = {
        **header,
        "datasets": {k: v for k, v in header.get("datasets", {}).items() if k in keep},
    }
    return out


def snapshot_meta_features(path: str | Path | None = None) -> pd.DataFrame:
    """Datasets × qualities of the snapshot (index: dataset spec), with OpenML id, family, part."""
    return pd.read_parquet(_folder(path) / _FEATURES)


def snapshot_split(path: str | Path | None = None) -> pd.DataFrame:
    """The snapshot's family split: one row per dataset (dataset, family, part)."""
    return read_split(_folder(path) / _SPLIT)


def snapshot_stats(path: str | Path | None = None) -> SnapshotStats:
    """Counts and grid of a snapshot (default: the shipped one), from its manifest."""
    folder = _folder(path)
    manifest = _manifest(folder)
    counts = manifest["counts"]
    split = snapshot_split(folder)
    parts = split[~split["dataset"].isin(manifest.get("twins", {}))]["part"].value_counts()
    return SnapshotStats(
        datasets=counts["datasets"],
        runs=counts["runs"],
        epochs=counts["epochs"],
        diverged_runs=counts["diverged_runs"],
        seeds=tuple(manifest["seeds"]),
        lrs=tuple(manifest["lrs"]),
        batch_sizes=tuple(manifest["batch_sizes"]),
        max_epochs=manifest["max_epochs"],
        size_bytes=sum(f.stat().st_size for f in folder.iterdir() if f.is_file()),
        parts={p: int(parts.get(p, 0)) for p in SPLIT_PARTS},
        twins=dict(manifest.get("twins", {})),
        hyperparameters=tuple(manifest.get("hyperparameters", ("lr", "batch_size"))),
        configs=manifest.get("configs", len(manifest["lrs"]) * len(manifest["batch_sizes"])),
    )
