"""`ZooMixin`: `MetaStore`'s model-zoo methods, each one transaction around ``_zoo.py``.

A mixin of `MetaStore`, kept out of ``_store.py`` so that the store's entry point stays small.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.orm import Session

from tunegym.metastore import _zoo
from tunegym.metastore._values import DatasetRef
from tunegym.metastore._zoo import ZooEntry

if TYPE_CHECKING:
    import torch

    from tunegym.data import TabularDataset
    from tunegym.training import ModelSpec

__all__ = ["ZooMixin"]

T = TypeVar("T")


class ZooMixin:
    """`MetaStore`'s model zoo: add, list, get, read the weights of and remove trained networks."""

    if TYPE_CHECKING:
        # `MetaStore`'s transactions: a write (retried on lost races) and a read.
        def _write(self, what: str, work: Callable[[Session], T]) -> T: ...

        def _reading(self) -> AbstractContextManager[Session]: ...

    # --- model zoo --------------------------------------------------------------------------

    def zoo_add(
        self,
        weights: Mapping[str, torch.Tensor],
        *,
        dataset: str | DatasetRef | TabularDataset,
        schema: str,
        feature_names: Sequence[str],
        feature_names_out: Sequence[str],
        class_names: Sequence[str],
        spec: Mapping[str, Any] | ModelSpec,
        config: Mapping[str, Any],
        scores: Mapping[str, float],
        epochs: int,
        run_id: int | None = None,
        name: str | None = None,
        note: str | None = None,
    ) -> ZooEntry:
        """Add a trained network to the model zoo, its weights stored in the database.

        The same weights (same SHA-256) of the same dataset are stored once: adding them again
        returns the stored entry, whatever its name and note.

        Args:
            weights: its state dict (``model.state_dict()``), saved on the CPU.
            dataset: what it trained on: a spec or name (added if not stored; a string with a
                colon is stored as a spec), a `DatasetRef`, or the `TabularDataset` itself.
            schema: the caller's fingerprint of the feature schema (at most 64 characters).
            feature_names: the raw feature columns.
            feature_names_out: the preprocessed columns, i.e. the network's inputs, in order.
            class_names: the classes of its outputs, in order.
            spec: its model spec (``spec_to_dict(spec)``, or the spec itself).
            config: its hyperparameters (JSON-able; a dataclass is turned into a dict).
            scores: measure -> finite value (``{"val_accuracy": 0.93, "test_accuracy": 0.9}``).
            epochs: epochs trained (>= 1).
            run_id: the run whose best epoch it is (``log_trial``'s id), if any.
            name: a unique name (default ``<dataset name>-<8 hex of the SHA-256>``).
            note: free text (at most 500 characters).

        Raises:
            TypeError, ValueError: for invalid values, an unknown run, or a name already taken.
        """
        return self._write(
            "zoo_add",
            lambda session: _zoo.add_model(
                session, weights, dataset=dataset, run_id=run_id, name=name, schema=schema,
                feature_names=feature_names, feature_names_out=feature_names_out,
                class_names=class_names, spec=spec, config=config, scores=scores,
                epochs=epochs, note=note,
            ),
        )  # fmt: skip

    def zoo_models(
        self, *, schema: str | None = None, dataset: str | DatasetRef | None = None
    ) -> list[ZooEntry]:
        """The zoo's models, newest first: all, or those of a feature schema and/or dataset.

        Raises:
            DatasetNotFoundError: (a ``ValueError``) for a dataset not in the store.
        """
        with self._reading() as session:
            return _zoo.list_models(session, schema=schema, dataset=dataset)

    def zoo_get(self, ref: str | int) -> ZooEntry:
        """A zoo model by name or id (a string of digits that is no name reads as an id).

        Raises:
            ZooModelNotFoundError: (a ``ValueError``) for none, with near names.
        """
        with self._reading() as session:
            return _zoo.get_entry(session, ref)

    def zoo_weights(self, ref: str | int | ZooEntry) -> dict[str, torch.Tensor]:
        """A zoo model's state dict, on the CPU (``model.load_state_dict(...)`` takes it).

        Raises:
            ZooModelNotFoundError: (a ``ValueError``) for an unknown model.
            ValueError: if the stored weights do not match their SHA-256.
        """
        with self._reading() as session:
            return _zoo.model_weights(session, ref)

    def zoo_remove(self, ref: str | int | ZooEntry) -> ZooEntry:
        """Delete a zoo model and its weights; return what was stored."""
        return self._write("zoo_remove", lambda session: _zoo.remove_model(session, ref))
