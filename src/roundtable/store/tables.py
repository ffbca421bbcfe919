"""The schema, defined once for both backends (migrations in `store/migrations` create it)."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from roundtable.store.types import BigIntPK, JSONDoc, UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

namespaces = Table(
    "namespaces",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
)

agents = Table(
    "agents",
    metadata,
    Column("namespace", String(64), ForeignKey("namespaces.name"), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("blueprint", String(128)),
)

projects = Table(
    "projects",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("namespace", String(64), ForeignKey("namespaces.name"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("head_seq", Integer, nullable=False, default=0),
    Column("head_hash", String(64), nullable=False),
    UniqueConstraint("namespace", "name"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("namespace", String(64), ForeignKey("namespaces.name"), nullable=False),
    Column("agent", String(128), nullable=False),
    Column("parent_id", String(36), ForeignKey("sessions.id")),
    Column("root_id", String(36), nullable=False),
    Column("status", String(16), nullable=False),
    Column("metadata", JSONDoc, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("lease_expires_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Column("superseded_by", String(36)),
    Index(None, "namespace", "agent"),
    # Only live leases are looked up by expiry (the sweep, the session limits).
    Index(
        "ix_sessions_active_lease",
        "lease_expires_at",
        sqlite_where=text("status = 'active'"),
        postgresql_where=text("status = 'active'"),
    ),
    Index(None, "root_id"),
)

agent_context = Table(
    "agent_context",
    metadata,
    Column("namespace", String(64), ForeignKey("namespaces.name"), primary_key=True),
    Column("agent", String(128), primary_key=True),
    Column("project_id", BigIntPK, ForeignKey("projects.id")),
    Column("version", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by_session", String(36)),
)

entries = Table(
    "entries",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("project_id", BigIntPK, ForeignKey("projects.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("ts", UTCDateTime, nullable=False),
    Column("agent", String(128), nullable=False),
    Column("session_id", String(36)),
    Column("status", String(16), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("meta", JSONDoc, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("project_id", "seq"),
    Index(None, "agent"),
    Index(None, "session_id"),
    Index(None, "ts"),
    sqlite_autoincrement=True,
)

events = Table(
    "events",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("ts", UTCDateTime, nullable=False),
    Column("namespace", String(64), nullable=False),
    Column("type", String(64), nullable=False),
    Column("project", String(128)),
    Column("agent", String(128)),
    Column("session_id", String(36)),
    Column("payload", JSONDoc, nullable=False),
    Index(None, "namespace", "id"),
    Index(None, "ts"),
    sqlite_autoincrement=True,  # never reuse an id, even after pruning: readers resume by id
)
