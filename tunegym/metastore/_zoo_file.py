"""Zoo files: a zoo model outside a store, as ``<stem>.pt`` + ``<stem>.json``.

``<stem>.pt`` is the state dict (``torch.save``; read back with ``weights_only=True`` only) and
``<stem>.json`` the rest::

    {"format": "tunegym.zoo-model", "version": 1, "name": ..., "dataset": ..., "schema": ...,
     "feature_names": [...], "feature_names_out": [...], "class_names": [...], "spec": {...},
     "config": {...}, "scores": {...}, "epochs": ..., "note": ...}

``tunegym zoo export`` writes one and ``tunegym zoo add`` reads it back.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tunegym.metastore._zoo import (
    ZooEntry,
    check_name,
    checked_metadata,
    weights_from_bytes,
    weights_to_bytes,
)

__all__ = [
    "ZOO_FILE_FORMAT",
    "ZOO_FILE_VERSION",
    "ZooFile",
    "read_zoo_file",
    "save_zoo_file",
    "zoo_file_paths",
]

ZOO_FILE_FORMAT = "tunegym.zoo-model"
ZOO_FILE_VERSION = 1
# The metadata keys of a zoo file (beside format, version, dataset, name and note).
_META_KEYS = (
    "schema", "feature_names", "feature_names_out", "class_names", "spec", "config", "scores",
    "epochs",
)  # fmt: skip


@dataclass(frozen=True)
class ZooFile:
    """A zoo file as read by `read_zoo_file`: the weights and the arguments of `zoo_add`.

    ``store.zoo_add(file.weights, **file.metadata())`` adds it to a store.
    """

    weights: dict[str, torch.Tensor]
    dataset: str
    schema: str
    feature_names: tuple[str, ...]
    feature_names_out: tuple[str, ...]
    class_names: tuple[str, ...]
    spec: dict[str, Any]
    config: dict[str, Any]
    scores: dict[str, float]
    epochs: int
    name: str | None = None
    note: str | None = None

    def metadata(self) -> dict[str, Any]:
        """Every field but the weights, as keyword arguments of `MetaStore.zoo_add`."""
        fields = dataclasses.fields(self)
        return {f.name: getattr(self, f.name) for f in fields if f.name != "weights"}


def zoo_file_paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The ``(<stem>.pt, <stem>.json)`` pair of a zoo file given as stem, ``.pt`` or ``.json``."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".pt", ".json") else path
    return stem.parent / f"{stem.name}.pt", stem.parent / f"{stem.name}.json"


def save_zoo_file(
    path: str | os.PathLike[str],
    weights: Mapping[str, torch.Tensor],
    meta: ZooEntry | ZooFile | Mapping[str, Any],
) -> tuple[Path, Path]:
    """Write a zoo file: ``<stem>.pt`` (the state dict) and ``<stem>.json`` (the metadata).

    Args:
        path: the stem, or either file of the pair; folders are created.
        weights: the state dict.
        meta: a `ZooEntry` or `ZooFile`, or a mapping with ``dataset``, ``schema``,
            ``feature_names``, ``feature_names_out``, ``class_names``, ``spec``, ``config``,
            ``scores``, ``epochs`` (and optionally ``name``, ``note``).

    Returns:
        The paths of the ``.pt`` and ``.json`` files written.

    Raises:
        TypeError, ValueError: for missing or invalid metadata or weights.
    """
    if isinstance(meta, ZooEntry | ZooFile):
        meta = {f.name: getattr(meta, f.name) for f in dataclasses.fields(meta)}
    fields = dict(meta)
    try:
        dataset, name = fields["dataset"], fields.get("name")
        checked = checked_metadata(**{k: fields[k] for k in _META_KEYS}, note=fields.get("note"))
    except KeyError as missing:
        raise ValueError(f"Zoo file metadata lacks {missing}; see save_zoo_file.") from None
    if not isinstance(dataset, str) or not dataset:
        raise ValueError(f"The dataset must be a non-empty spec or name, got {dataset!r}.")
    if name is not None:
        check_name(name)
    data = weights_to_bytes(weights)
    pt, js = zoo_file_paths(path)
    pt.parent.mkdir(parents=True, exist_ok=True)
    header = {"format": ZOO_FILE_FORMAT, "version": ZOO_FILE_VERSION, "name": name}
    js.write_text(json.dumps({**header, "dataset": dataset, **checked}, indent=2) + "\n")
    pt.write_bytes(data)
    return pt, js


def read_zoo_file(path: str | os.PathLike[str]) -> ZooFile:
    """Read a zoo file (``<stem>.pt`` + ``<stem>.json``, as `save_zoo_file` writes).

    Args:
        path: the stem, or either file of the pair.

    Raises:
        FileNotFoundError: if either file is missing.
        ValueError: for bad JSON, another format or version, invalid metadata, or a ``.pt``
            that is not a state dict of tensors (each message names the file).
    """
    pt, js = zoo_file_paths(path)
    for file in (js, pt):
        if not file.is_file():
            raise FileNotFoundError(
                f"No zoo file {file}: a zoo model is a pair <stem>.pt + <stem>.json, "
                "as 'tunegym zoo export' writes."
            )
    try:
        meta = json.loads(js.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(
            f"{js} is not valid JSON ({error}); write it with save_zoo_file."
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != ZOO_FILE_FORMAT:
        seen = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ValueError(
            f"{js} is not a tunegym zoo file (format {seen!r}, expected {ZOO_FILE_FORMAT!r}); "
            "write it with 'tunegym zoo export' or save_zoo_file."
        )
    if meta.get("version") != ZOO_FILE_VERSION:
        raise ValueError(
            f"{js} is a zoo file of version {meta.get('version')!r}; this tunegym reads version "
            f"{ZOO_FILE_VERSION}. Upgrade tunegym, or export it again."
        )
    missing = [k for k in ("dataset", *_META_KEYS) if k not in meta]
    if missing:
        raise ValueError(f"{js} lacks {', '.join(missing)}; see the format in save_zoo_file.")
    try:
        checked = checked_metadata(**{k: meta[k] for k in _META_KEYS}, note=meta.get("note"))
        if not isinstance(meta["dataset"], str) or not meta["dataset"]:
            raise ValueError(f"dataset must be a non-empty str, got {meta['dataset']!r}")
        if meta.get("name") is not None:
            check_name(meta["name"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"{js}: {error}") from None
    weights = weights_from_bytes(pt.read_bytes(), str(pt))
    return ZooFile(
        weights=weights, dataset=meta["dataset"], schema=checked["schema"],
        feature_names=tuple(checked["feature_names"]),
        feature_names_out=tuple(checked["feature_names_out"]),
        class_names=tuple(checked["class_names"]), spec=checked["spec"],
        config=checked["config"], scores=checked["scores"], epochs=checked["epochs"],
        name=meta.get("name"), note=checked["note"],
    )  # fmt: skip
