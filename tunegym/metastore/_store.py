"""`MetaStore`: the meta-store's one entry point (a SQLAlchemy engine and its transactions)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from tunegym.errors import MetaStoreOpenError, MetaStoreReadOnlyError
from tunegym.metastore import _curves, _entities, _exchange, _zoo
from tunegym.metastore._engine import (
    READ_ONLY,
    head_revision,
    make_engine,
    read_only_file,
    resolve_url,
    revisions,
    schema_revision,
    shown_url,
    store_timeout,
    upgrade,
)
from tunegym.metastore._failures import open_error, read_error
from tunegym.metastore._retry import retrying
from tunegym.metastore._schema import Dataset, Evaluation, MetaFeature, Run, Task
from tunegym.metastore._values import (
    DatasetRef,
    EpochLike,
    EvaluationRow,
    FlowRef,
    FlowSpace,
    Init,
    MetaFeatureSource,
    RunRecord,
    RunStatus,
    SearchGrid,
    SetupRef,
    Source,
    SplitSpec,
    StoreStats,
    TableCounts,
    TaskRef,
    parse_enum,
)
from tunegym.metastore._zoo import ZooEntry

if TYPE_CHECKING:
    import torch

    from tunegym.data import TabularDataset
    from tunegym.training import ModelSpec, TrainConfig

__all__ = ["MetaStore"]

T = TypeVar("T")


class MetaStore:
    """A store of datasets, tasks, flows, setups, runs and their per-epoch evaluations.

    Opening a store creates the database if needed and migrates it to the newest schema
    (Alembic ``upgrade head``). Every write method is one transaction; many processes may
    write one store at once (a transaction that loses a race with another writer is run again,
    see ``docs/METASTORE.md``), and a write that still fails raises `MetaStoreWriteError`.

    A SQLite file that this process cannot write (the file or its folder) opens read-only
    (`read_only` is then true): it reads as usual and every write raises
    `MetaStoreReadOnlyError`. A store that cannot be opened, read or written raises a
    `tunegym.errors.MetaStoreError` whose message is one line naming the store, the problem
    (read-only, full, locked by another process, unreachable) and what to do.

    Args:
        url: a SQLAlchemy URL (``"sqlite:///runs.sqlite"``, ``"postgresql+psycopg://…"``), a
            file path (a SQLite file), ``":memory:"``/``"sqlite://"`` (in-memory, gone when
            closed), or ``None``: ``$TUNEGYM_METASTORE`` if set, else
            ``$XDG_DATA_HOME/tunegym/metastore.sqlite`` (``~/.local/share/…`` by default).
        timeout: seconds a write waits for another process's lock, and for a database server
            to answer, before it fails with `MetaStoreLockedError` (or `MetaStoreOpenError`);
            ``None``: ``$TUNEGYM_STORE_TIMEOUT`` if set, else 30.

    Raises:
        MetaStoreURLError: (a ``ValueError``) for a URL that is no database URL.
        MetaStoreDriverError: (a ``MissingExtraError``) when the database's driver is missing.
        MetaStoreOpenError: when the database cannot be reached, or is not a store.
        MetaStoreReadOnlyError: for a read-only store at an older schema (it cannot migrate).
        MetaStoreFullError, MetaStoreLockedError: when a new store or its migration cannot be
            written.
        ValueError: for a timeout that is not a positive number of seconds.

    Example:
        >>> with MetaStore(":memory:") as store:
        ...     iris = store.get_or_create_dataset("iris", spec="sklearn:iris", openml_did=61)
        ...     store.stats().datasets
        1
    """

    def __init__(
        self, url: str | os.PathLike[str] | None = None, *, timeout: float | None = None
    ) -> None:
        self.url = resolve_url(url)
        self.timeout = store_timeout(timeout)
        self.read_only = read_only_file(self.url)
        self._shown = shown_url(self.url)
        self.engine = make_engine(self.url, timeout_s=self.timeout, read_only=self.read_only)
        try:
            self.revision = self._migrate()
        except Exception:
            self.engine.dispose()
            raise
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._readers = sessionmaker(self.engine.execution_options(**{READ_ONLY: True}))

    def _migrate(self) -> str:
        """Bring the store to the newest schema, unless it is there (no write lock then)."""
        head = head_revision()
        try:
            current = schema_revision(self.engine)
            if current == head:
                return head
            if current is not None and current not in revisions():
                raise MetaStoreOpenError(
                    f"could not open the meta-store {self._shown}: its schema revision "
                    f"{current!r} is newer than this tunegym knows ({head!r}). Upgrade "
                    "tunegym, or point --store elsewhere."
                )
            if self.read_only:
                raise MetaStoreReadOnlyError(
                    f"the meta-store {self._shown} is read-only and at an older schema "
                    f"(revision {current!r}; this tunegym needs {head!r}): open it writable "
                    "once to upgrade it, or point --store elsewhere."
                )
            return upgrade(self.engine)
        except (DBAPIError, sqlite3.Error) as error:
            raise open_error(error, self._shown, self.timeout) from None

    def __repr__(self) -> str:
        return f"MetaStore({self.engine.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        """Close every connection (an in-memory store is then gone)."""
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _write(self, what: str, work: Callable[[Session], T]) -> T:
        """``work`` in one write transaction, run again while it loses races to other writers.

        Raises:
            MetaStoreWriteError: (one line) when the database refuses the write.
        """

        def transaction() -> T:
            with self._sessions.begin() as session:
                return work(session)

        return retrying(transaction, what, self._shown, self.timeout)

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        """A read transaction; a database error in it raises a one-line `MetaStoreError`."""
        try:
            with self._readers.begin() as session:
                yield session
        except DBAPIError as error:
            raise read_error(error, self._shown, self.timeout) from None

    # --- entities ---------------------------------------------------------------------------

    def get_or_create_dataset(
        self,
        name: str,
        *,
        spec: str | None = None,
        openml_did: int | None = None,
        source: Source | str = Source.LOCAL,
        n_rows: int | None = None,
        n_features: int | None = None,
        n_classes: int | None = None,
    ) -> DatasetRef:
        """Find a dataset by spec, else OpenML did, else name; or add it.

        A dataset found gets its missing spec, did and sizes filled in from the arguments.

        Args:
            name: its name (OpenML's name for OpenML datasets).
            spec: the tunegym spec that loads it (``"keel:german"``); unique.
            openml_did: its OpenML dataset id; unique.
            source: where its metadata comes from.
            n_rows: rows.
            n_features: raw feature columns (target excluded).
            n_classes: target classes.

        Raises:
            ValueError: for bad values, or a spec and a did of two different stored datasets.
        """
        return self._write(
            "get_or_create_dataset",
            lambda session: _entities.get_or_create_dataset(
                session, name, spec=spec, openml_did=openml_did, source=source,
                n_rows=n_rows, n_features=n_features, n_classes=n_classes,
            ),
        )  # fmt: skip

    def get_or_create_task(
        self,
        dataset: DatasetRef | int | str,
        split: SplitSpec | None = None,
        *,
        openml_task_id: int | None = None,
    ) -> TaskRef:
        """Find the task of ``dataset`` with this split (or this OpenML task id), or add it.

        Args:
            dataset: a reference, an internal id, or a spec/name.
            split: the split (``None``: ``load_dataset``'s default, hold-out 60/20/20, seed 0).
            openml_task_id: the OpenML task id, if any.
        """
        return self._write(
            "get_or_create_task",
            lambda session: _entities.get_or_create_task(
                session, dataset, split or SplitSpec(), openml_task_id
            ),
        )

    def get_or_create_flow(
        self,
        name: str,
        version: str = "1",
        *,
        family: str = "mlp",
        model_spec: Mapping[str, Any] | None = None,
        search_space: SearchGrid | FlowSpace | None = None,
        openml_flow_id: int | None = None,
    ) -> FlowRef:
        """Find the flow ``name`` ``version``, or add it.

        Args:
            name: flow name (tunegym's MLP flows are ``tunegym.mlp(activation=…,depth=…,…)``).
            version: flow version; a new model spec needs a new version.
            family: model family (``"mlp"``).
            model_spec: the fixed model architecture (JSON-able).
            search_space: the grid its setups come from (a stored grid is widened to hold it),
                or the `FlowSpace` of a flow off the grid (its ``E_max`` raised to the larger).
            openml_flow_id: the OpenML flow id, if any.

        Raises:
            ValueError: if the stored flow has a different model spec.
        """
        return self._write(
            "get_or_create_flow",
            lambda session: _entities.get_or_create_flow(
                session, name, version, family=family, model_spec=model_spec,
                search_space=search_space, openml_flow_id=openml_flow_id,
            ),
        )  # fmt: skip

    def get_or_create_setup(self, flow: FlowRef | int, params: Mapping[str, Any]) -> SetupRef:
        """Find the setup of ``flow`` with these hyperparameter values, or add it.

        Setups are deduplicated by the SHA-256 of their canonical JSON (sorted keys, floats to
        15 significant digits): ``{"lr": 0.1 + 0.2}`` and ``{"lr": 0.3}`` are one setup.
        """
        return self._write(
            "get_or_create_setup",
            lambda session: _entities.get_or_create_setup(session, flow, params),
        )

    # --- meta-features ----------------------------------------------------------------------

    def set_meta_features(
        self,
        dataset: DatasetRef | int | str,
        values: Mapping[str, float | None],
        *,
        source: MetaFeatureSource | str = MetaFeatureSource.COMPUTED,
    ) -> None:
        """Store meta-features of a dataset under OpenML quality names (overwriting).

        Args:
            dataset: a reference, an internal id, or a spec/name.
            values: quality name (``"NumberOfInstances"``) -> value (``None``/``nan``: missing).
            source: computed locally or published by OpenML.
        """
        self._write(
            "set_meta_features",
            lambda session: _entities.set_meta_features(
                session, _entities.resolve_dataset(session, dataset).id, values, source
            ),
        )

    def meta_features(self, source: MetaFeatureSource | str | None = None) -> pd.DataFrame:
        """Datasets × qualities (wide), indexed by dataset id.

        Args:
            source: only values of this source; ``None`` takes OpenML's published value where
                there is one, else the computed one.
        """
        query = select(
            MetaFeature.dataset_id, MetaFeature.name, MetaFeature.value, MetaFeature.source
        )
        if source is not None:
            chosen = parse_enum(MetaFeatureSource, source, "meta-feature source")
            query = query.where(MetaFeature.source == chosen)
        with self._reading() as session:
            rows = session.execute(query).all()
        long = pd.DataFrame(rows, columns=["dataset_id", "name", "value", "source"])
        long["rank"] = (long["source"] != MetaFeatureSource.OPENML).astype(int)
        long = long.sort_values("rank").drop_duplicates(["dataset_id", "name"])
        wide = long.pivot(index="dataset_id", columns="name", values="value").astype(np.float64)
        wide.columns.name = None
        return wide.sort_index().sort_index(axis=1)

    # --- runs -------------------------------------------------------------------------------

    def add_run(
        self,
        task: TaskRef | int,
        setup: SetupRef | int,
        seed: int,
        status: RunStatus | str,
        evaluations: Sequence[EvaluationRow] | Sequence[EpochLike] = (),
        *,
        init: Init | str = Init.SCRATCH,
        checkpoint: str | None = None,
        source: Source | str = Source.LOCAL,
        openml_run_id: int | None = None,
        hardware: str | None = None,
        total_seconds: float | None = None,
    ) -> int:
        """Store one run with its evaluations in one transaction; return its id.

        Args:
            task: the task.
            setup: the setup.
            seed: the run's seed.
            status: ``ok``, ``diverged`` or ``failed``.
            evaluations: `EvaluationRow`s, or per-epoch `EpochRecord`s (see `EPOCH_MEASURES`;
                the last epoch's values are also stored as the final ones).
            init: from scratch or from a checkpoint.
            checkpoint: the starting checkpoint's reference (``init="checkpoint"`` only).
            source: ``local``, ``openml`` or ``lcdb``.
            openml_run_id: its OpenML run id (unique).
            hardware: where it ran (`detect_hardware` gives this machine's).
            total_seconds: wall time of the run.

        Raises:
            ValueError: for an invalid status/init/source, or a task or setup not in the store.
        """
        record = RunRecord(
            task, setup, seed, parse_enum(RunStatus, status, "run status"), evaluations,
            parse_enum(Init, init, "init"), checkpoint, parse_enum(Source, source, "run source"),
            openml_run_id, hardware, total_seconds,
        )  # fmt: skip
        return self.add_runs([record])[0]

    def add_runs(self, runs: Iterable[RunRecord]) -> list[int]:
        """Store many runs and their evaluations in one transaction (bulk INSERTs).

        Returns:
            The new run ids, in the order of ``runs``.
        """
        records = list(runs)
        return self._write("add_runs", lambda session: _entities.insert_runs(session, records))

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

    def datasets(self) -> pd.DataFrame:
        """Stored datasets (indexed by id) with their identities, sizes and number of runs."""
        query = (
            select(
                Dataset.id, Dataset.name, Dataset.spec, Dataset.openml_did, Dataset.source,
                Dataset.n_rows, Dataset.n_features, Dataset.n_classes, func.count(Run.id),
            )
            .outerjoin(Task, Task.dataset_id == Dataset.id)
            .outerjoin(Run, Run.task_id == Task.id)
            .group_by(Dataset.id)
            .order_by(Dataset.id)
        )  # fmt: skip
        columns = ["id", "name", "spec", "openml_did", "source", "n_rows", "n_features",
                   "n_classes", "runs"]  # fmt: skip
        with self._reading() as session:
            frame = pd.DataFrame(session.execute(query).all(), columns=columns)
        frame["source"] = frame["source"].astype(str)
        for column in ("openml_did", "n_rows", "n_features", "n_classes"):
            frame[column] = frame[column].astype("Int64")
        return frame.set_index("id")

    def stats(self) -> StoreStats:
        """How many datasets, tasks, flows, setups, runs (by source and status), evaluations
        and trained epochs the store holds."""
        epochs = (
            select(Evaluation.run_id, Evaluation.epoch)
            .where(Evaluation.epoch.is_not(None))
            .distinct()
        )
        with self._reading() as session:
            counts = _exchange.table_counts(session)
            by_source = session.execute(select(Run.source, func.count()).group_by(Run.source))
            by_status = session.execute(select(Run.status, func.count()).group_by(Run.status))
            return StoreStats(
                datasets=counts.datasets,
                tasks=counts.tasks,
                flows=counts.flows,
                setups=counts.setups,
                runs=counts.runs,
                runs_by_source={str(k): n for k, n in by_source},
                runs_by_status={str(k): n for k, n in by_status},
                evaluations=counts.evaluations,
                epochs=session.scalar(select(func.count()).select_from(epochs.subquery())) or 0,
            )

    # --- transfer ---------------------------------------------------------------------------

    def export_parquet(
        self, directory: str | os.PathLike[str], datasets: Iterable[int | str] | None = None
    ) -> TableCounts:
        """Write the store, or some datasets with everything their runs need, to Parquet.

        One file per table (``datasets.parquet`` … ``evaluations.parquet``) and
        ``manifest.json`` (format, version, Alembic revision, counts) in ``directory``.

        Args:
            directory: where to write (created if needed).
            datasets: ids or specs/names to export; ``None`` exports everything.

        Returns:
            The rows written per table.
        """
        with self._reading() as session:
            ids = (
                None
                if datasets is None
                else [_entities.resolve_dataset(session, d).id for d in datasets]
            )
            return _exchange.export_parquet(session, Path(directory), ids, self.revision)

    def import_parquet(self, directory: str | os.PathLike[str]) -> TableCounts:
        """Merge an export into this store, in one transaction.

        Ids are remapped; datasets (by spec, OpenML did or name), tasks, flows, setups (by hash)
        and runs (by natural key) already stored are reused, not duplicated.

        Returns:
            The rows added per table.

        Raises:
            FileNotFoundError: without a manifest.
            ValueError: for another format, version or schema revision.
        """
        return self._write(
            "import_parquet",
            lambda session: _exchange.import_parquet(session, Path(directory), self.revision),
        )

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
