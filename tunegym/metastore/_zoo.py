"""The model zoo: trained networks, weights included, kept in the meta-store to fine-tune from.

A zoo model is a ``torch.save``d state dict with what it takes to reuse it: the dataset it was
trained on, a fingerprint of its feature schema (given by the caller), the raw and preprocessed
feature names, the class names, the model spec, the hyperparameters, its scores and how many
epochs it trained. `MetaStore.zoo_add` and friends call the functions here inside a transaction.

Weights are read with ``torch.load(..., weights_only=True)`` only, and their SHA-256 is checked
on every read. Outside a store a zoo model travels as a zoo file (``_zoo_file.py``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import torch
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, defer

from tunegym.errors import DatasetNotFoundError, did_you_mean
from tunegym.metastore._entities import get_or_create_dataset, resolve_dataset
from tunegym.metastore._schema import Dataset, Run, ZooModel
from tunegym.metastore._values import DatasetRef

if TYPE_CHECKING:
    from tunegym.data import TabularDataset
    from tunegym.training import ModelSpec

__all__ = [
    "ZooEntry",
    "ZooModelNotFoundError",
    "add_model",
    "check_name",
    "checked_metadata",
    "find_model",
    "get_entry",
    "list_models",
    "model_weights",
    "remove_model",
    "weights_from_bytes",
    "weights_to_bytes",
]

_NAME_CHARS = re.compile(r"[^A-Za-z0-9._+-]+")
_LIST_HINT = "List the zoo with 'tunegym zoo list'."


class ZooModelNotFoundError(ValueError, LookupError):
    """No zoo model has that id or name (the message suggests near names)."""


@dataclass(frozen=True)
class ZooEntry:
    """A zoo model as stored, without its weights (`MetaStore.zoo_weights` reads those).

    Attributes:
        id: its id in the store.
        name: its unique name.
        dataset: the spec (else the name) of the dataset it was trained on.
        dataset_id: that dataset's id in the store.
        run_id: the run whose best epoch it is, if any.
        schema: the caller's fingerprint of the feature schema it takes.
        feature_names: the raw feature columns.
        feature_names_out: the preprocessed columns: the network's inputs, in order.
        class_names: the classes of its outputs, in order.
        spec: the model spec (``tunegym.training.spec_to_dict``).
        config: the hyperparameters it trained with.
        scores: measure -> value (``val_accuracy``, ``test_accuracy``…).
        epochs: epochs trained.
        sha256: SHA-256 of the weights' bytes.
        n_parameters: numbers in the state dict (parameters and buffers).
        created: when it was added (UTC).
        note: free text.
    """

    id: int
    name: str
    dataset: str
    dataset_id: int
    run_id: int | None
    schema: str
    feature_names: tuple[str, ...]
    feature_names_out: tuple[str, ...]
    class_names: tuple[str, ...]
    spec: dict[str, Any]
    config: dict[str, Any]
    scores: dict[str, float]
    epochs: int
    sha256: str
    n_parameters: int
    created: datetime
    note: str | None = None


# --- checks ---------------------------------------------------------------------------------


def _names(value: object, what: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(f"{what} must be a sequence of str, got {type(value).__name__}.")
    if not value or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what} must be a non-empty sequence of str, got {list(value)!r:.200}.")
    return list(value)


def _json_dict(value: object, what: str) -> dict[str, Any]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a mapping, got {type(value).__name__}: {value!r:.200}.")
    data = dict(value)
    try:
        json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{what} must be JSON-able (finite numbers): {error}.") from None
    return data


def _scores(value: object) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise TypeError(f"scores must map measure names to floats, got {type(value).__name__}.")
    scores = {}
    for key, score in value.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"Score names must be non-empty str, got {key!r}.")
        if isinstance(score, bool) or not isinstance(score, numbers.Real):
            raise TypeError(f"Score {key!r} must be a number, got {score!r}.")
        if not math.isfinite(float(score)):
            raise ValueError(f"Score {key!r} must be finite, got {score!r}.")
        scores[key] = float(score)
    return scores


def _spec(value: object) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return _json_dict(value, "spec")
    from tunegym.training import spec_to_dict

    return _json_dict(spec_to_dict(value), "spec")  # type: ignore[arg-type]


def check_name(name: str) -> str:
    """``name`` if it can name a zoo model (not a number: that reads as an id), else raise."""
    if not isinstance(name, str) or not name or name != name.strip() or len(name) > 200:
        raise ValueError(
            f"A zoo model's name must be a non-empty str of at most 200 characters without "
            f"spaces at its ends, got {name!r}."
        )
    if name.isdigit() or "/" in name or "\\" in name:
        raise ValueError(
            f"A zoo model's name cannot be a number (it would read as an id) or hold a path "
            f"separator, got {name!r}; use letters, digits and '.-_+'."
        )
    return name


def checked_metadata(
    *,
    schema: str,
    feature_names: Sequence[str],
    feature_names_out: Sequence[str],
    class_names: Sequence[str],
    spec: Mapping[str, Any] | ModelSpec,
    config: Mapping[str, Any],
    scores: Mapping[str, float],
    epochs: int,
    note: str | None = None,
) -> dict[str, Any]:
    """The metadata of a zoo model, checked and turned into plain JSON-able values.

    Raises:
        TypeError, ValueError: for a value of the wrong type, or an invalid one.
    """
    if not isinstance(schema, str) or not schema.strip() or len(schema) > 64:
        raise ValueError(
            f"schema must be a non-empty str of at most 64 characters, got {schema!r}."
        )
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an int >= 1, got {epochs!r}.")
    if note is not None and (not isinstance(note, str) or len(note) > 500):
        raise ValueError(f"note must be a str of at most 500 characters or None, got {note!r:.80}.")
    return {
        "schema": schema,
        "feature_names": _names(feature_names, "feature_names"),
        "feature_names_out": _names(feature_names_out, "feature_names_out"),
        "class_names": _names(class_names, "class_names"),
        "spec": _spec(spec),
        "config": _json_dict(config, "config"),
        "scores": _scores(scores),
        "epochs": epochs,
        "note": note,
    }


# --- weights --------------------------------------------------------------------------------


def _checked_weights(weights: object, what: str) -> dict[str, torch.Tensor]:
    if hasattr(weights, "state_dict") and not isinstance(weights, Mapping):
        raise TypeError(f"{what} must be a state dict: pass model.state_dict(), not the model.")
    if not isinstance(weights, Mapping) or not weights:
        raise ValueError(f"{what} must be a non-empty state dict (name -> tensor).")
    bad = [
        k for k, v in weights.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)
    ]
    if bad:
        raise ValueError(
            f"{what} must map str names to tensors; not so for {bad[:3]!r} "
            f"({type(weights[bad[0]]).__name__}). Save model.state_dict()."
        )
    return dict(weights)


def weights_to_bytes(weights: Mapping[str, torch.Tensor]) -> bytes:
    """The ``torch.save`` bytes of a state dict, on the CPU and contiguous (the same weights
    give the same bytes, and so the same SHA-256).

    Raises:
        TypeError, ValueError: for an empty mapping, or one of non-tensors.
    """
    checked = _checked_weights(weights, "weights")
    plain = {
        k: v.detach().to("cpu").clone(memory_format=torch.contiguous_format)
        for k, v in checked.items()
    }
    buffer = io.BytesIO()
    torch.save(plain, buffer)
    return buffer.getvalue()


def weights_from_bytes(data: bytes, what: str) -> dict[str, torch.Tensor]:
    """Read a state dict with ``weights_only=True`` (nothing else is unpickled).

    Raises:
        ValueError: if ``data`` is not a state dict of tensors (``what`` names it).
    """
    try:
        loaded = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for bad bytes; one message for all
        # torch's own message advises weights_only=False: exactly what must not be done here.
        raise ValueError(
            f"{what} is not a torch state dict that loads with weights_only=True "
            f"({type(error).__name__}); save one with torch.save(model.state_dict(), path). "
            "tunegym unpickles nothing but tensors."
        ) from None
    return _checked_weights(loaded, what)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- store ----------------------------------------------------------------------------------


def _entry(row: ZooModel, dataset: Dataset) -> ZooEntry:
    return ZooEntry(
        id=row.id, name=row.name, dataset=dataset.spec or dataset.name, dataset_id=row.dataset_id,
        run_id=row.run_id, schema=row.schema, feature_names=tuple(row.feature_names),
        feature_names_out=tuple(row.feature_names_out), class_names=tuple(row.class_names),
        spec=dict(row.spec), config=dict(row.config), scores=dict(row.scores), epochs=row.epochs,
        sha256=row.sha256, n_parameters=row.n_parameters, created=row.created, note=row.note,
    )  # fmt: skip


def _entries(session: Session, *where: ColumnElement[bool]) -> list[ZooEntry]:
    """The entries that match ``where``, newest first (their weights stay in the database)."""
    query = (
        select(ZooModel, Dataset)
        .join(Dataset, Dataset.id == ZooModel.dataset_id)
        .where(*where)
        .order_by(ZooModel.created.desc(), ZooModel.id.desc())
        .options(defer(ZooModel.weights))
    )
    return [_entry(row, dataset) for row, dataset in session.execute(query)]


def _dataset(session: Session, dataset: str | DatasetRef | TabularDataset) -> Dataset:
    """The dataset row of a reference, spec or name; a dataset not stored yet is added."""
    from tunegym.data import TabularDataset

    if isinstance(dataset, TabularDataset):
        info = dataset.info
        dataset = get_or_create_dataset(
            session, info.name, spec=info.spec, openml_did=info.openml_id, n_rows=info.n_rows,
            n_features=info.n_raw_features, n_classes=info.n_classes,
        )  # fmt: skip
    if isinstance(dataset, DatasetRef):
        return resolve_dataset(session, dataset)
    if not isinstance(dataset, str) or not dataset:
        raise TypeError(
            f"dataset must be a spec or name (str), a DatasetRef or a TabularDataset, got "
            f"{dataset!r:.80}."
        )
    try:
        return resolve_dataset(session, dataset)
    except DatasetNotFoundError:
        # A spec ("sklearn:iris") is stored as the spec; anything else as a local name.
        ref = get_or_create_dataset(session, dataset, spec=dataset if ":" in dataset else None)
        return resolve_dataset(session, ref)


def _free_name(session: Session, dataset: Dataset, sha256: str) -> str:
    base = _NAME_CHARS.sub("-", dataset.name).strip("-") or "model"
    for digits in (8, 16, 64):
        name = f"{base[:120]}-{sha256[:digits]}"
        if session.scalar(select(ZooModel.id).where(ZooModel.name == name)) is None:
            return name
    raise ValueError(f"No free default name for a model of {dataset.name!r}; give a name.")


def add_model(
    session: Session,
    weights: Mapping[str, torch.Tensor],
    *,
    dataset: str | DatasetRef | TabularDataset,
    run_id: int | None,
    name: str | None,
    **metadata: Any,
) -> ZooEntry:
    """Add a zoo model (see `MetaStore.zoo_add`); the same weights of a dataset are added once."""
    meta = checked_metadata(**metadata)
    if name is not None:
        check_name(name)
    if run_id is not None:
        if isinstance(run_id, bool) or not isinstance(run_id, int):
            raise TypeError(f"run_id must be an int or None, got {run_id!r}.")
        if session.get(Run, run_id) is None:
            raise ValueError(
                f"No run {run_id} in the meta-store; give the id that log_trial returned, "
                "or leave run_id out."
            )
    data = weights_to_bytes(weights)
    sha256 = _sha256(data)
    row = _dataset(session, dataset)
    found = _entries(session, ZooModel.dataset_id == row.id, ZooModel.sha256 == sha256)
    if found:
        return found[0]
    if name is not None:
        taken = session.scalar(select(ZooModel.id).where(ZooModel.name == name))
        if taken is not None:
            raise ValueError(
                f"A zoo model named {name!r} already exists (id {taken}) with other weights; "
                f"pick another name, or see it with 'tunegym zoo show {name}'."
            )
    model = ZooModel(
        name=name or _free_name(session, row, sha256), dataset_id=row.id, run_id=run_id,
        weights=data, sha256=sha256,
        n_parameters=sum(t.numel() for t in weights.values()),
        **meta,
    )  # fmt: skip
    session.add(model)
    session.flush()
    return _entry(model, row)


def list_models(
    session: Session, *, schema: str | None = None, dataset: str | DatasetRef | None = None
) -> list[ZooEntry]:
    """Zoo models, newest first, optionally of one schema and/or dataset."""
    where = [] if schema is None else [ZooModel.schema == schema]
    if dataset is not None:
        where.append(ZooModel.dataset_id == resolve_dataset(session, dataset).id)
    return _entries(session, *where)


def find_model(session: Session, ref: str | int | ZooEntry) -> ZooModel:
    """The zoo row of an id, a name (a string of digits not a name: an id), or an entry.

    Raises:
        ZooModelNotFoundError: (a ``ValueError``) when none matches, with near names.
    """
    if isinstance(ref, ZooEntry):
        ref = ref.id
    if isinstance(ref, bool) or not isinstance(ref, int | str):
        raise TypeError(f"A zoo model is given by its id (int) or name (str), got {ref!r:.80}.")
    lazy = [defer(ZooModel.weights)]  # read only by `model_weights`, when it asks
    row = None
    if isinstance(ref, str):
        row = session.scalar(select(ZooModel).where(ZooModel.name == ref).options(*lazy))
    if row is None and (isinstance(ref, int) or ref.isdigit()):
        row = session.get(ZooModel, int(ref), options=lazy)
    if row is None:
        names = list(session.scalars(select(ZooModel.name)))
        raise ZooModelNotFoundError(
            f"No zoo model {ref!r} in the meta-store (the zoo holds {len(names)})."
            f"{did_you_mean(str(ref), names)} {_LIST_HINT}"
        )
    return row


def get_entry(session: Session, ref: str | int | ZooEntry) -> ZooEntry:
    """The entry of an id, a name or an entry (see `find_model`)."""
    row = find_model(session, ref)
    return _entry(row, session.scalars(select(Dataset).where(Dataset.id == row.dataset_id)).one())


def model_weights(session: Session, ref: str | int | ZooEntry) -> dict[str, torch.Tensor]:
    """The weights of a zoo model, their SHA-256 checked.

    Raises:
        ValueError: if the stored bytes do not match their SHA-256, or are no state dict.
    """
    row = find_model(session, ref)
    if _sha256(row.weights) != row.sha256:
        raise ValueError(
            f"The weights of zoo model {row.name!r} (id {row.id}) are corrupt: their SHA-256 "
            f"is not the recorded {row.sha256[:12]}…. Remove it ('tunegym zoo remove "
            f"{row.name}') and add it again from a zoo file of it, if you have one."
        )
    return weights_from_bytes(row.weights, f"The weights of zoo model {row.name!r}")


def remove_model(session: Session, ref: str | int | ZooEntry) -> ZooEntry:
    """Delete a zoo model; return its entry."""
    entry = get_entry(session, ref)
    session.delete(find_model(session, entry.id))
    return entry
