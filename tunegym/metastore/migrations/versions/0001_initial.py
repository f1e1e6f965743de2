"""initial schema: dataset, meta_feature, task, flow, setup, run, evaluation

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _enum(*values: str) -> sa.Enum:
    return sa.Enum(*values, native_enum=False, length=16)


SOURCE = ("openml", "lcdb", "local")


def upgrade() -> None:
    op.create_table(
        "dataset",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("openml_did", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("spec", sa.String(length=200), nullable=True),
        sa.Column("source", _enum(*SOURCE), nullable=False),
        sa.Column("n_rows", sa.Integer(), nullable=True),
        sa.Column("n_features", sa.Integer(), nullable=True),
        sa.Column("n_classes", sa.Integer(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dataset"),
        sa.UniqueConstraint("openml_did", name="uq_dataset_openml_did"),
        sa.UniqueConstraint("spec", name="uq_dataset_spec"),
    )
    op.create_index("ix_dataset_name", "dataset", ["name"])
    op.create_table(
        "meta_feature",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("source", _enum("computed", "openml"), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["dataset.id"], name="fk_meta_feature_dataset_id_dataset"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_meta_feature"),
        sa.UniqueConstraint(
            "dataset_id", "name", "source", name="uq_meta_feature_dataset_id_name_source"
        ),
    )
    op.create_table(
        "task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("openml_task_id", sa.Integer(), nullable=True),
        sa.Column("procedure", _enum("holdout", "cv"), nullable=False),
        sa.Column("split_seed", sa.Integer(), nullable=True),
        sa.Column("n_folds", sa.Integer(), nullable=True),
        sa.Column("fold", sa.Integer(), nullable=True),
        sa.Column("val_size", sa.Float(), nullable=True),
        sa.Column("test_size", sa.Float(), nullable=True),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"], name="fk_task_dataset_id_dataset"),
        sa.PrimaryKeyConstraint("id", name="pk_task"),
        sa.UniqueConstraint("dataset_id", "key", name="uq_task_dataset_id_key"),
        sa.UniqueConstraint("openml_task_id", name="uq_task_openml_task_id"),
    )
    op.create_index("ix_task_dataset_id", "task", ["dataset_id"])
    op.create_table(
        "flow",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("version", sa.String(length=50), nullable=False),
        sa.Column("openml_flow_id", sa.Integer(), nullable=True),
        sa.Column("family", sa.String(length=50), nullable=False),
        sa.Column("search_space", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("model_spec", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_flow"),
        sa.UniqueConstraint("name", "version", name="uq_flow_name_version"),
        sa.UniqueConstraint("openml_flow_id", name="uq_flow_openml_flow_id"),
    )
    op.create_table(
        "setup",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flow_id", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("params", sa.JSON(none_as_null=True), nullable=False),
        sa.ForeignKeyConstraint(["flow_id"], ["flow.id"], name="fk_setup_flow_id_flow"),
        sa.PrimaryKeyConstraint("id", name="pk_setup"),
        sa.UniqueConstraint("flow_id", "hash", name="uq_setup_flow_id_hash"),
    )
    op.create_table(
        "run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("setup_id", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("status", _enum("ok", "diverged", "failed"), nullable=False),
        sa.Column("init", _enum("scratch", "checkpoint"), nullable=False),
        sa.Column("checkpoint", sa.String(length=500), nullable=True),
        sa.Column("source", _enum(*SOURCE), nullable=False),
        sa.Column("openml_run_id", sa.Integer(), nullable=True),
        sa.Column("hardware", sa.String(length=200), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("total_seconds", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["setup_id"], ["setup.id"], name="fk_run_setup_id_setup"),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"], name="fk_run_task_id_task"),
        sa.PrimaryKeyConstraint("id", name="pk_run"),
        sa.UniqueConstraint("openml_run_id", name="uq_run_openml_run_id"),
    )
    op.create_index("ix_run_setup_id", "run", ["setup_id"])
    op.create_index("ix_run_task_id", "run", ["task_id"])
    op.create_table(
        "evaluation",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("measure", sa.String(length=64), nullable=False),
        sa.Column("split", _enum("train", "val", "test"), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("epoch", sa.Integer(), nullable=True),
        sa.Column("elapsed_seconds", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["run.id"], name="fk_evaluation_run_id_run"),
        sa.PrimaryKeyConstraint("id", name="pk_evaluation"),
    )
    op.create_index("ix_evaluation_run_id", "evaluation", ["run_id"])


def downgrade() -> None:
    for index, table in [
        ("ix_evaluation_run_id", "evaluation"),
        ("ix_run_task_id", "run"),
        ("ix_run_setup_id", "run"),
        ("ix_task_dataset_id", "task"),
        ("ix_dataset_name", "dataset"),
    ]:
        op.drop_index(index, table_name=table)
    for table in ("evaluation", "run", "setup", "flow", "task", "meta_feature", "dataset"):
        op.drop_table(table)
