"""`MetaStore`: the meta-store's one entry point (a SQLAlchemy engine and its transactions)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from tunegym.errors import MetaStoreOpenError, MetaStoreReadOnlyError
from tunegym.metastore import _entities, _exchange
from tunegym.metastore._curvestore import CurvesMixin
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
from tunegym.metastore._retry import retrying, whole
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
from tunegym.metastore._zoostore import ZooMixin

__all__ = ["MetaStore"]

T = TypeVar("T")


class MetaStore(CurvesMixin, ZooMixin):
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
        """``work`` in one write transaction, run again while it loses races to other writers;
        a Ctrl-C during it is raised once it has ended (`whole`).

        Raises:
            MetaStoreWriteError: (one line) when the database refuses the write.
        """

        def transaction() -> T:
            with self._sessions.begin() as session:
                return work(session)

        with whole():
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

    # --- reading ----------------------------------------------------------------------------

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
