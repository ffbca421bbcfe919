"""Orchestration: blueprints, session trees, the run queue, runners, durable callbacks.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from roundtable.store.types import BigIntPK, JSONDoc, UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_SESSION_COLUMNS = (
    "depth",
    "blueprint",
    "blueprint_version",
    "mode",
    "project",
    "on_parent_exit",
    "result_text",
    "result_data",
    "error",
)


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(
            sa.Column("depth", sa.Integer, nullable=False, server_default=sa.text("0"))
        )
        batch.add_column(sa.Column("blueprint", sa.String(128)))
        batch.add_column(sa.Column("blueprint_version", sa.Integer))
        batch.add_column(sa.Column("mode", sa.String(16)))
        batch.add_column(sa.Column("project", sa.String(128)))
        batch.add_column(sa.Column("on_parent_exit", sa.String(16)))
        batch.add_column(sa.Column("result_text", sa.Text))
        batch.add_column(sa.Column("result_data", JSONDoc))
        batch.add_column(sa.Column("error", JSONDoc))
    op.create_index("ix_sessions_parent_id", "sessions", ["parent_id"])
    op.create_table(
        "blueprints",
        sa.Column("namespace", sa.String(64), sa.ForeignKey("namespaces.name"), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("spec", JSONDoc, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "blueprint_versions",
        sa.Column("namespace", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("spec", JSONDoc, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("namespace", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(36), sa.ForeignKey("sessions.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("executor", sa.String(64), nullable=False),
        sa.Column("demands", JSONDoc, nullable=False),
        sa.Column("input", JSONDoc, nullable=False),
        sa.Column("runner_id", sa.String(36)),
        sa.Column("result_text", sa.Text),
        sa.Column("result_data", JSONDoc),
        sa.Column("error", JSONDoc),
        sa.Column("usage", JSONDoc),
        sa.Column("stop_requested", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("queue_deadline", UTCDateTime, nullable=False),
        sa.Column("claimed_at", UTCDateTime),
        sa.Column("started_at", UTCDateTime),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("lease_expires_at", UTCDateTime),
    )
    op.create_index(
        "ix_runs_queue",
        "runs",
        ["namespace", "priority", "created_at"],
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_runs_session_id", "runs", ["session_id"])
    op.create_index("ix_runs_runner_id_status", "runs", ["runner_id", "status"])
    op.create_table(
        "runners",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("namespace", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("tags", JSONDoc, nullable=False),
        sa.Column("executors", JSONDoc, nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("registered_at", UTCDateTime, nullable=False),
        sa.Column("last_heartbeat", UTCDateTime, nullable=False),
        sa.Column("lease_expires_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "callbacks",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(80), nullable=False),
        sa.Column("namespace", sa.String(64), nullable=False),
        sa.Column("parent_id", sa.String(36), sa.ForeignKey("sessions.id"), nullable=False),
        sa.Column("child_id", sa.String(36), nullable=False),
        sa.Column("envelope", JSONDoc, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("run_id", sa.String(36)),
        sa.UniqueConstraint("key", name="uq_callbacks_key"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_callbacks_parent_id_run_id", "callbacks", ["parent_id", "run_id"])


def downgrade() -> None:
    for table in ("callbacks", "runners", "runs", "blueprint_versions", "blueprints"):
        op.drop_table(table)
    op.drop_index("ix_sessions_parent_id", "sessions")
    with op.batch_alter_table("sessions") as batch:
        for column in _SESSION_COLUMNS:
            batch.drop_column(column)
