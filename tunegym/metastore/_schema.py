"""The meta-store's tables: SQLAlchemy 2 declarative models shaped like OpenML's entities.

Beside them, ``zoo_model`` holds the model zoo: trained networks (weights included) to
fine-tune from, ``report_key`` the warm-start service's idempotency keys (what each report's
first request stored and answered), and ``collect_claim`` the jobs that collectors sharing the
store are training.

Portable SQL only (SQLite and PostgreSQL): enums are stored as strings, JSON as the generic
``JSON`` type, evaluation ids are 64-bit. Constraint names follow one naming convention so that
migrations can refer to them on every database. ``migrations/versions`` must match these models
(a test compares them).
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Enum,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tunegym.metastore._values import (
    DataSplit,
    Init,
    MetaFeatureSource,
    Procedure,
    RunStatus,
    Source,
)

__all__ = [
    "EVALUATION_TABLE",
    "Base",
    "CollectClaim",
    "Dataset",
    "Evaluation",
    "Flow",
    "MetaFeature",
    "ReportKey",
    "Run",
    "Setup",
    "Task",
    "ZooModel",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite makes only ``INTEGER PRIMARY KEY`` an auto-incremented rowid alias.
BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


def _now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that always reads back timezone-aware in UTC.

    PostgreSQL returns aware datetimes in the session's time zone, SQLite naive ones (it keeps
    no zone); both store UTC here, so every backend, and an export/import between them, gives
    the same values.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _enum(kind: type[enum.Enum]) -> Enum:
    # Stored as the member's value in a VARCHAR: no native ENUM type, so it ports and migrates.
    return Enum(
        kind,
        native_enum=False,
        length=16,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    """Declarative base of the meta-store's tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Dataset(Base):
    """A dataset; ``openml_did`` where it is on OpenML (local ones have none: their own ids)."""

    __tablename__ = "dataset"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    openml_did: Mapped[int | None] = mapped_column(Integer, unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    spec: Mapped[str | None] = mapped_column(String(200), unique=True)
    source: Mapped[Source] = mapped_column(_enum(Source))
    n_rows: Mapped[int | None] = mapped_column(Integer)
    n_features: Mapped[int | None] = mapped_column(Integer)
    n_classes: Mapped[int | None] = mapped_column(Integer)
    created: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class MetaFeature(Base):
    """One quality of a dataset, under its OpenML name (``NumberOfInstances``…)."""

    __tablename__ = "meta_feature"
    __table_args__ = (UniqueConstraint("dataset_id", "name", "source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id"))
    name: Mapped[str] = mapped_column(String(100))
    value: Mapped[float | None] = mapped_column(Float)
    source: Mapped[MetaFeatureSource] = mapped_column(_enum(MetaFeatureSource))


class Task(Base):
    """A dataset with a split; ``key`` spells out the split so that it can be unique."""

    __tablename__ = "task"
    __table_args__ = (UniqueConstraint("dataset_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id"), index=True)
    openml_task_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    procedure: Mapped[Procedure] = mapped_column(_enum(Procedure))
    split_seed: Mapped[int | None] = mapped_column(Integer)
    n_folds: Mapped[int | None] = mapped_column(Integer)
    fold: Mapped[int | None] = mapped_column(Integer)
    val_size: Mapped[float | None] = mapped_column(Float)
    test_size: Mapped[float | None] = mapped_column(Float)
    key: Mapped[str] = mapped_column(String(200))


class Flow(Base):
    """A model family with a fixed model spec, and the search space its setups come from."""

    __tablename__ = "flow"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(500))
    version: Mapped[str] = mapped_column(String(50))
    openml_flow_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    family: Mapped[str] = mapped_column(String(50))
    search_space: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    model_spec: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    created: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class Setup(Base):
    """Hyperparameter values of a flow, deduplicated by the hash of their canonical JSON."""

    __tablename__ = "setup"
    __table_args__ = (UniqueConstraint("flow_id", "hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    flow_id: Mapped[int] = mapped_column(ForeignKey("flow.id"))
    hash: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSON(none_as_null=True))


class Run(Base):
    """One training run: a task × setup × seed, with how it started, ended and where it ran."""

    __tablename__ = "run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id"), index=True)
    setup_id: Mapped[int] = mapped_column(ForeignKey("setup.id"), index=True)
    seed: Mapped[int] = mapped_column(Integer)
    status: Mapped[RunStatus] = mapped_column(_enum(RunStatus))
    init: Mapped[Init] = mapped_column(_enum(Init))
    checkpoint: Mapped[str | None] = mapped_column(String(500))
    source: Mapped[Source] = mapped_column(_enum(Source))
    openml_run_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    hardware: Mapped[str | None] = mapped_column(String(200))
    created: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    total_seconds: Mapped[float | None] = mapped_column(Float)


class Evaluation(Base):
    """One value of one measure of a run, per epoch (``epoch`` NULL: the final value)."""

    __tablename__ = "evaluation"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id"), index=True)
    measure: Mapped[str] = mapped_column(String(64))
    split: Mapped[DataSplit] = mapped_column(_enum(DataSplit))
    value: Mapped[float | None] = mapped_column(Float)
    epoch: Mapped[int | None] = mapped_column(Integer)
    elapsed_seconds: Mapped[float | None] = mapped_column(Float)


class ZooModel(Base):
    """A trained network of the model zoo, with its weights (a ``torch.save``d state dict).

    The weights live in the database, so that a team's PostgreSQL store and an export carry
    them; ``sha256`` (of the weights' bytes) deduplicates them per dataset and is checked on
    every read.
    """

    __tablename__ = "zoo_model"
    __table_args__ = (UniqueConstraint("dataset_id", "sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id"))
    schema: Mapped[str] = mapped_column(String(64), index=True)
    feature_names: Mapped[list[str]] = mapped_column(JSON(none_as_null=True))
    feature_names_out: Mapped[list[str]] = mapped_column(JSON(none_as_null=True))
    class_names: Mapped[list[str]] = mapped_column(JSON(none_as_null=True))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON(none_as_null=True))
    config: Mapped[dict[str, Any]] = mapped_column(JSON(none_as_null=True))
    scores: Mapped[dict[str, float]] = mapped_column(JSON(none_as_null=True))
    epochs: Mapped[int] = mapped_column(Integer)
    weights: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    n_parameters: Mapped[int] = mapped_column(BigInteger)
    created: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    note: Mapped[str | None] = mapped_column(String(500))


class ReportKey(Base):
    """A report the warm-start service stored (``POST /v1/runs``), by its idempotency key.

    Written in the transaction that stores the report's runs, so a report is stored once: a
    repeat of the key (a client's retry) is answered ``status_code`` and ``response`` without
    storing again. ``key`` is the client's ``Idempotency-Key`` (``key:...``) or, for a report
    sent without one, the SHA-256 of its content (``sha256:...``); ``request_sha256`` tells a
    repeat from another report sent under the same key. Service state, not meta-data: exports
    leave it out.
    """

    __tablename__ = "report_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON(none_as_null=True))
    created: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class CollectClaim(Base):
    """A job that a collector (``tunegym collect``) is training, so that the others leave it.

    ``key`` names the job (a hash of its dataset, trial seed and configurations); ``owner`` is
    the collector (host, process id and a random suffix). The claim holds until
    ``expires``, which the owner's heartbeat keeps pushing on, and is deleted once the job's runs
    are stored: a collector that was killed leaves claims that expire, and its jobs pass to
    others. Coordination state, not meta-data: exports leave it out.
    """

    __tablename__ = "collect_claim"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    owner: Mapped[str] = mapped_column(String(200))
    expires: Mapped[datetime] = mapped_column(UTCDateTime())


# The table itself, for Core bulk INSERTs of evaluations (no per-row ORM bookkeeping).
EVALUATION_TABLE: Table = Base.metadata.tables["evaluation"]
