"""`CurvesMixin`: `MetaStore`'s trial and curve-table methods, transactions around ``_curves.py``.

A mixin of `MetaStore`, kept out of ``_store.py`` so that the store's entry point stays small.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd
from sqlalchemy.orm import Session

from tunegym.metastore import _curves
from tunegym.metastore._values import DatasetRef, EpochLike, FlowRef, SplitSpec, TaskRef

if TYPE_CHECKING:
    from tunegym.data import TabularDataset
    from tunegym.training import ModelSpec, TrainConfig

__all__ = ["CurvesMixin"]

T = TypeVar("T")


class CurvesMixin:
    """`MetaStore`'s local runs in and curve tables out: `log_trial`, `log_curves`, `curves`."""

    if TYPE_CHECKING:
        # `MetaStore`'s transactions: a write (retried on lost races) and a read.
        def _write(self, what: str, work: Callable[[Session], T]) -> T: ...

        def _reading(self) -> AbstractContextManager[Session]: ...

    # --- runs -------------------------------------------------------------------------------

    def log_trial(
        self,
        dataset: TabularDataset,
        config: TrainConfig,
        spec: ModelSpec,
        history: Sequence[EpochLike],
        *,
        val_size: float = 0.2,
        test_size: float = 0.2,
        device: str = "cpu",
        checkpoint: str | None = None,
        hardware: str | None = None,
        finished: bool = True,
    ) -> int:
        """Store a trained tunegym trial as a local run; return its id.

        The dataset, task (seed and fold from ``dataset``), flow (``spec``) and setup (``config``
        without its seed) are found or added; the status comes from ``history`` (``diverged`` if
        an epoch diverged, ``failed`` if empty, ``partial`` while not ``finished``). Logging the
        same trial again adds nothing, unless the new history is longer: it then replaces the
        stored one; or unless the stored run is ``partial`` and this one ``finished``: it then
        takes the final status. Logging after every epoch with ``finished=False``, and at the end
        with ``finished=True``, keeps every trained epoch of a run that is killed, marked as such.

        Args:
            dataset: the data the trial trained on.
            config: its hyperparameters (``config.seed`` is the run's seed).
            spec: its network.
            history: its epoch records (``Trial.train`` / ``Trial.history``).
            val_size: the ``val_size`` the dataset was loaded with (checked against its sizes).
            test_size: the ``test_size`` it was loaded with (hold-out splits).
            device: where it trained (``"cuda"`` adds the GPU's name to the hardware).
            checkpoint: the checkpoint it started from, if any (``init="checkpoint"``).
            hardware: overrides the detected hardware.
            finished: whether the trial has ended (``False``: stored as ``partial``, its curve
                may grow).

        Example:
            >>> from tunegym.training import MLPSpec, TrainConfig, Trial
            >>> from tunegym.data import load_dataset
            >>> ds, config = load_dataset("sklearn:iris"), TrainConfig(1e-2, 16, 2)
            >>> with MetaStore(":memory:") as store:
            ...     run_id = store.log_trial(ds, config, MLPSpec(), Trial(ds, config).train(2))
            ...     store.stats().epochs
            2
        """
        split = SplitSpec.of_dataset(dataset, val_size=val_size, test_size=test_size)
        ran_on = hardware or _curves.detect_hardware(device)
        return self._write(
            "log_trial",
            lambda session: _curves.log_trial(
                session, dataset, config, spec, history, split=split, checkpoint=checkpoint,
                hardware=ran_on, finished=finished,
            ),
        )  # fmt: skip

    def log_curves(
        self,
        frame: pd.DataFrame,
        *,
        split: SplitSpec | None = None,
        model: Mapping[str, Any] | None = None,
        hardware: str | None = None,
    ) -> list[int]:
        """Store a curve table (``tunegym.envs.record_curves``) as local runs, idempotently.

        Each (dataset, lr, batch_size, seed) becomes a run of the flow of the table's model
        (``attrs["tunegym"]["model"]``), with setup ``{lr, batch_size, max_epochs, weight_decay}``
        where ``max_epochs`` is the table's last epoch. The header's env meta-features are kept
        as ``tunegym.*`` meta-features. Stored runs are not added again. One transaction.

        Args:
            frame: the curve table.
            split: the split the curves were recorded on (``None``: ``load_dataset``'s default).
            model: the model spec when the table has no header.
            hardware: where the curves were recorded (default: this machine).

        Returns:
            The run ids, one per curve.
        """
        ran_on = hardware or _curves.detect_hardware()
        return self._write(
            "log_curves",
            lambda session: _curves.log_curves(
                session, frame, split=split or SplitSpec(), model=model, hardware=ran_on
            ),
        )

    # --- reading ----------------------------------------------------------------------------

    def curves(
        self,
        dataset: DatasetRef | int | str,
        flow: FlowRef | int | str | None = None,
        *,
        task: TaskRef | int | None = None,
        run_ids: bool = False,
    ) -> pd.DataFrame:
        """The curve table of a dataset, in ``tunegym.envs``' format (``CURVE_COLUMNS``).

        ``tunegym.envs.ReplayBackend(store.curves("sklearn:iris"))`` replays it; its
        ``attrs["tunegym"]`` header holds the model and the env meta-features.

        Args:
            dataset: a reference, an internal id, or a spec/name.
            flow: whose runs (reference, id or name); needed when several flows have runs.
            task: which task's runs (reference or id); needed when several tasks have runs.
            run_ids: add a ``run_id`` column (each row's run in the store).

        Raises:
            DatasetNotFoundError: (a ``ValueError``) for an unknown dataset, with a near miss.
            ValueError: if it has no runs, or runs of several tasks/flows and none was chosen.
        """
        with self._reading() as session:
            return _curves.read_curves(session, dataset, flow, task, run_ids)
