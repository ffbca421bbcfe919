"""The run queue's index in the claim's own order: `priority DESC, created_at, id`.

`ix_runs_queue` was (namespace, priority, created_at): a claim orders by priority descending
and then oldest first, a mixed direction no scan of that index gives, so every claim read ALL
the pending runs of the top priority and sorted them to take one (2 ms per claim with 3,000
runs queued on SQLite, growing with the queue). With the index in the claim's order a claim
reads the runs in queue order and stops at the first it matches.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.drop_index("ix_runs_queue", table_name="runs")
    op.create_index(
        "ix_runs_queue",
        "runs",
        ["namespace", sa.text("priority DESC"), "created_at", "id"],
        sqlite_where=_PENDING,
        postgresql_where=_PENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_runs_queue", table_name="runs")
    op.create_index(
        "ix_runs_queue",
        "runs",
        ["namespace", "priority", "created_at"],
        sqlite_where=_PENDING,
        postgresql_where=_PENDING,
    )
