"""model zoo: zoo_model (trained networks and their weights, to fine-tune from)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "zoo_model",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("schema", sa.String(length=64), nullable=False),
        sa.Column("feature_names", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("feature_names_out", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("class_names", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("spec", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("config", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("scores", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("epochs", sa.Integer(), nullable=False),
        sa.Column("weights", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("n_parameters", sa.BigInteger(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["dataset.id"], name="fk_zoo_model_dataset_id_dataset"
        ),
        sa.ForeignKeyConstraint(["run_id"], ["run.id"], name="fk_zoo_model_run_id_run"),
        sa.PrimaryKeyConstraint("id", name="pk_zoo_model"),
        sa.UniqueConstraint("dataset_id", "sha256", name="uq_zoo_model_dataset_id_sha256"),
        sa.UniqueConstraint("name", name="uq_zoo_model_name"),
    )
    op.create_index("ix_zoo_model_dataset_id", "zoo_model", ["dataset_id"])
    op.create_index("ix_zoo_model_schema", "zoo_model", ["schema"])


def downgrade() -> None:
    op.drop_index("ix_zoo_model_schema", table_name="zoo_model")
    op.drop_index("ix_zoo_model_dataset_id", table_name="zoo_model")
    op.drop_table("zoo_model")
