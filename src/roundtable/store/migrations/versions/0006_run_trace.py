"""Trace context of runs: the W3C `traceparent`/`tracestate` of the call that queued each run.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("traceparent", sa.String(64)))
        batch.add_column(sa.Column("tracestate", sa.String(512)))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("tracestate")
        batch.drop_column("traceparent")
