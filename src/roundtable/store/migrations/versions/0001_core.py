"""Core schema: namespaces, agents, projects, sessions, agent context, entries, events.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from roundtable.store.types import BigIntPK, JSONDoc, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "namespaces",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "agents",
        sa.Column("namespace", sa.String(64), sa.ForeignKey("namespaces.name"), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("first_seen", UTCDateTime, nullable=False),
        sa.Column("last_seen", UTCDateTime, nullable=False),
        sa.Column("blueprint", sa.String(128)),
    )
    op.create_table(
        "projects",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("namespace", sa.String(64), sa.ForeignKey("namespaces.name"), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("head_seq", sa.Integer, nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("namespace", "name", name="uq_projects_namespace_name"),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("namespace", sa.String(64), sa.ForeignKey("namespaces.name"), nullable=False),
        sa.Column("agent", sa.String(128), nullable=False),
        sa.Column("parent_id", sa.String(36), sa.ForeignKey("sessions.id")),
        sa.Column("root_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("metadata", JSONDoc, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("lease_expires_at", UTCDateTime, nullable=False),
        sa.Column("ended_at", UTCDateTime),
        sa.Column("superseded_by", sa.String(36)),
    )
    op.create_index("ix_sessions_namespace_agent", "sessions", ["namespace", "agent"])
    op.create_index(
        "ix_sessions_active_lease",
        "sessions",
        ["lease_expires_at"],
        sqlite_where=sa.text("status = 'active'"),
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_index("ix_sessions_root_id", "sessions", ["root_id"])
    op.create_table(
        "agent_context",
        sa.Column("namespace", sa.String(64), sa.ForeignKey("namespaces.name"), primary_key=True),
        sa.Column("agent", sa.String(128), primary_key=True),
        sa.Column("project_id", BigIntPK, sa.ForeignKey("projects.id")),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("updated_by_session", sa.String(36)),
    )
    op.create_table(
        "entries",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("project_id", BigIntPK, sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("ts", UTCDateTime, nullable=False),
        sa.Column("agent", sa.String(128), nullable=False),
        sa.Column("session_id", sa.String(36)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("meta", JSONDoc, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("project_id", "seq", name="uq_entries_project_id_seq"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_entries_agent", "entries", ["agent"])
    op.create_index("ix_entries_session_id", "entries", ["session_id"])
    op.create_index("ix_entries_ts", "entries", ["ts"])
    op.create_table(
        "events",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("ts", UTCDateTime, nullable=False),
        sa.Column("namespace", sa.String(64), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("project", sa.String(128)),
        sa.Column("agent", sa.String(128)),
        sa.Column("session_id", sa.String(36)),
        sa.Column("payload", JSONDoc, nullable=False),
        sqlite_autoincrement=True,  # ids are resume points: never reuse one
    )
    op.create_index("ix_events_namespace_id", "events", ["namespace", "id"])
    op.create_index("ix_events_ts", "events", ["ts"])
    _full_text_index()


def _full_text_index() -> None:
    """SQLite: an external-content FTS5 table kept by triggers; PostgreSQL: a tsvector column.

    Both split words the same way: PostgreSQL's parser would keep `src/app.py`, `a@b.com` or
    `example.com` as single tokens, so punctuation becomes spaces first, as in FTS5's
    `unicode61`; FTS5 keeps diacritics (`café` is not `cafe`), as PostgreSQL's `simple` does.
    """
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE entries ADD COLUMN tsv tsvector GENERATED ALWAYS AS (to_tsvector("
            "'simple', regexp_replace(message, '[[:punct:][:space:]]+', ' ', 'g'))) STORED"
        )
        op.execute("CREATE INDEX ix_entries_tsv ON entries USING gin (tsv)")
        return
    op.execute(
        "CREATE VIRTUAL TABLE entries_fts USING fts5(message, content='entries', "
        "content_rowid='id', tokenize='unicode61 remove_diacritics 0')"
    )
    op.execute(
        "CREATE TRIGGER entries_fts_insert AFTER INSERT ON entries BEGIN "
        "INSERT INTO entries_fts(rowid, message) VALUES (new.id, new.message); END"
    )
    op.execute(
        "CREATE TRIGGER entries_fts_delete AFTER DELETE ON entries BEGIN "
        "INSERT INTO entries_fts(entries_fts, rowid, message) "
        "VALUES ('delete', old.id, old.message); END"
    )
    op.execute(
        "CREATE TRIGGER entries_fts_update AFTER UPDATE OF message ON entries BEGIN "
        "INSERT INTO entries_fts(entries_fts, rowid, message) "
        "VALUES ('delete', old.id, old.message); "
        "INSERT INTO entries_fts(rowid, message) VALUES (new.id, new.message); END"
    )


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        op.execute("DROP TABLE entries_fts")
    for table in ("events", "entries", "agent_context", "sessions", "projects", "agents"):
        op.drop_table(table)
    op.drop_table("namespaces")
