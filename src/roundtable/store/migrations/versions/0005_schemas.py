"""Structured output: the schema registry and each run's resolved output schema.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from roundtable.store.types import JSONDoc, UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_RUN_COLUMNS = (
    "output_schema_ref",
    "output_schema",
    "output_retries",
    "output_attempt",
    "validation",
)


def upgrade() -> None:
    op.create_table(
        "schemas",
        sa.Column("namespace", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("digest", sa.String(71), nullable=False),
        sa.Column("dialect", sa.String(200), nullable=False),
        sa.Column("body", JSONDoc, nullable=False),
        sa.Column("refs", JSONDoc, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=sa.text("''")),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("deleted_at", UTCDateTime),
    )
    op.create_index("ix_schemas_namespace_name_digest", "schemas", ["namespace", "name", "digest"])
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("output_schema_ref", sa.String(200)))
        batch.add_column(sa.Column("output_schema", JSONDoc))
        batch.add_column(sa.Column("output_retries", sa.Integer))
        batch.add_column(sa.Column("output_attempt", sa.Integer))
        batch.add_column(sa.Column("validation", JSONDoc))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        for column in _RUN_COLUMNS:
            batch.drop_column(column)
    op.drop_index("ix_schemas_namespace_name_digest", "schemas")
    op.drop_table("schemas")
