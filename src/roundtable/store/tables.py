"""The schema, defined once for both backends (migrations in `store/migrations` create it)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
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
    # The Merkle tree's right edge: hex roots of its perfect subtrees, largest first (RFC 9162).
    Column("tree_frontier", JSONDoc, nullable=False, server_default=text("'[]'")),
    # Canonical bytes appended since the last rotation (automatic rotation by size).
    Column("segment_bytes", BigInteger, nullable=False, server_default=text("0")),
    # Where the Markdown mirror of this journal is written, if anywhere (a projection).
    Column("mirror_path", Text),
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
    # Orchestrated sessions (issue 9); plain sessions keep the defaults.
    Column("depth", Integer, nullable=False, server_default=text("0")),
    Column("blueprint", String(128)),
    Column("blueprint_version", Integer),
    Column("mode", String(16)),
    Column("project", String(128)),
    Column("on_parent_exit", String(16)),
    Column("result_text", Text),
    Column("result_data", JSONDoc),
    Column("error", JSONDoc),
    Index(None, "namespace", "agent"),
    # Only live leases are looked up by expiry (the sweep, the session limits).
    Index(
        "ix_sessions_active_lease",
        "lease_expires_at",
        sqlite_where=text("status = 'active'"),
        postgresql_where=text("status = 'active'"),
    ),
    Index(None, "root_id"),
    Index(None, "parent_id"),
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
    # RFC 9162 leaf hash: SHA-256(0x00 || canonical entry); kept when a body is pruned.
    Column("leaf_hash", String(64), nullable=False, server_default=text("''")),
    # True once retention dropped the body (message, meta): it lives in the segment's archive.
    Column("pruned", Boolean, nullable=False, server_default=text("false")),
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

#: Hashes of the Merkle tree's complete inner nodes (level >= 1; leaves are `entries.leaf_hash`).
#: Node (level, index) covers leaves [index * 2**level, (index + 1) * 2**level).
merkle_nodes = Table(
    "merkle_nodes",
    metadata,
    Column("project_id", BigIntPK, ForeignKey("projects.id"), primary_key=True),
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)

#: Signed statements of a journal's size and Merkle root (C2SP tlog-checkpoint signed notes).
checkpoints = Table(
    "checkpoints",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("project_id", BigIntPK, ForeignKey("projects.id"), nullable=False),
    Column("size", Integer, nullable=False),
    Column("root", String(64), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "project_id", "size"),
    sqlite_autoincrement=True,
)

#: Sealed, rotated ranges of a journal and their archives (D5).
segments = Table(
    "segments",
    metadata,
    Column("project_id", BigIntPK, ForeignKey("projects.id"), primary_key=True),
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("first_seq", Integer, nullable=False),
    Column("last_seq", Integer, nullable=False),
    Column("root", String(64), nullable=False),
    Column("tree_root", String(64), nullable=False),
    Column("archive", Text, nullable=False),
    Column("archive_sha256", String(64), nullable=False),
    Column("markdown", Text, nullable=False),
    Column("rotation_seq", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("pruned_at", UTCDateTime),
)

#: Public halves of every signing key this deployment has used (private keys stay on disk).
signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("algorithm", String(16), nullable=False),
    Column("public_key", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("retired_at", UTCDateTime),
)

#: Small named counters, e.g. `events.pruned_through` (the newest event id retention removed).
markers = Table(
    "markers",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

# -- Orchestration (issue 9): blueprints, the run queue, runners, durable callbacks -------------

#: Agent definitions, namespaced; `spec` is the whole BlueprintSpec, `version` counts changes.
blueprints = Table(
    "blueprints",
    metadata,
    Column("namespace", String(64), ForeignKey("namespaces.name"), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("spec", JSONDoc, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

#: Every version a blueprint has had: a run executes the version its session was started with.
blueprint_versions = Table(
    "blueprint_versions",
    metadata,
    Column("namespace", String(64), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("spec", JSONDoc, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

#: The queue: one unit of work for a session. The table is the only truth about it.
runs = Table(
    "runs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("namespace", String(64), nullable=False),
    Column("session_id", String(36), ForeignKey("sessions.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("executor", String(64), nullable=False),
    Column("demands", JSONDoc, nullable=False),
    Column("input", JSONDoc, nullable=False),
    Column("runner_id", String(36)),
    Column("result_text", Text),
    Column("result_data", JSONDoc),
    Column("error", JSONDoc),
    Column("usage", JSONDoc),
    Column("stop_requested", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("queue_deadline", UTCDateTime, nullable=False),
    Column("claimed_at", UTCDateTime),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("lease_expires_at", UTCDateTime),
    # Structured output (issue 10): the resolved schema (`name@N` or `sha256:...`) and body,
    # the retries allowed, which attempt this run is, and the outcome of its validation.
    Column("output_schema_ref", String(200)),
    Column("output_schema", JSONDoc),
    Column("output_retries", Integer),
    Column("output_attempt", Integer),
    Column("validation", JSONDoc),
    # Tracing (issue 17): the W3C trace context of the call that queued the run, handed to the
    # runner so the run's spans join that call's trace.
    Column("traceparent", String(64)),
    Column("tracestate", String(512)),
    Index(None, "session_id"),
    Index(None, "runner_id", "status"),
)
#: Claimers scan only pending runs, in the claim's order: highest priority first, oldest first
#: within one (then by id), so a claim stops at the first run it matches (migration 0009).
Index(
    "ix_runs_queue",
    runs.c.namespace,
    runs.c.priority.desc(),
    runs.c.created_at,
    runs.c.id,
    sqlite_where=text("status = 'pending'"),
    postgresql_where=text("status = 'pending'"),
)

#: Registered worker processes; their heartbeats renew `lease_expires_at`.
runners = Table(
    "runners",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("namespace", String(64), nullable=False),
    Column("name", String(128), nullable=False),
    Column("hostname", String(255), nullable=False),
    Column("tags", JSONDoc, nullable=False),
    Column("executors", JSONDoc, nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("registered_at", UTCDateTime, nullable=False),
    Column("last_heartbeat", UTCDateTime, nullable=False),
    Column("lease_expires_at", UTCDateTime, nullable=False),
)

#: Durable callbacks (D13): one row per child result for a parent; `run_id` is set in the same
#: transaction that creates the parent's `callback` run carrying it (delivered exactly once).
callbacks = Table(
    "callbacks",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("key", String(80), nullable=False, unique=True),
    Column("namespace", String(64), nullable=False),
    Column("parent_id", String(36), ForeignKey("sessions.id"), nullable=False),
    Column("child_id", String(36), nullable=False),
    Column("envelope", JSONDoc, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("run_id", String(36)),
    Index(None, "parent_id", "run_id"),
    sqlite_autoincrement=True,
)

#: Context-store documents (D6, D7). `root_session` is the scope: '' for namespace-wide, else
#: the root session id of the tree the document belongs to (no foreign key: a tree may be
#: deleted while a promoted document of it lives on). Content lives in `document_chunks`.
documents = Table(
    "documents",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("namespace", String(64), ForeignKey("namespaces.name"), nullable=False),
    Column("root_session", String(36), nullable=False),
    Column("name", String(256), nullable=False),
    Column("content_type", String(128), nullable=False),
    Column("tags", JSONDoc, nullable=False),
    Column("metadata", JSONDoc, nullable=False),
    Column("lifecycle", String(16), nullable=False),
    Column("length", BigInteger, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_origin", String(16), nullable=False),
    Column("created_session", String(36)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", String(128), nullable=False),
    UniqueConstraint("namespace", "root_session", "name"),
    Index(None, "lifecycle", "root_session"),
)

#: A document's text in order (`pos`), in pieces of a few KB, so an edit rewrites (and
#: re-indexes) only the pieces it touches. Full-text search indexes the pieces: SQLite through
#: the external-content FTS5 table `document_chunks_fts` (kept by triggers), PostgreSQL through
#: the generated `tsv` column; both are created by migration 0004, outside this metadata.
document_chunks = Table(
    "document_chunks",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column(
        "document_id", String(36), ForeignKey("documents.id", ondelete="CASCADE"), nullable=False
    ),
    Column("pos", BigInteger, nullable=False),
    Column("body", Text, nullable=False),
    Column("length", Integer, nullable=False),
    Index(None, "document_id", "pos"),
    sqlite_autoincrement=True,
)

document_tags = Table(
    "document_tags",
    metadata,
    Column(
        "document_id",
        String(36),
        ForeignKey("documents.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("tag", String(64), primary_key=True),
    Index(None, "tag"),
)

#: Typed links between two documents of one namespace. `parent-child` and
#: `predecessor-successor` point from the first to the second; `related` is stored once, with
#: the smaller id first. `note` is said of `to_id` from `from_id`'s side, `reverse_note` back.
document_relations = Table(
    "document_relations",
    metadata,
    Column("from_id", String(36), ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True),
    Column("to_id", String(36), ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("namespace", String(64), nullable=False),
    Column("note", Text, nullable=False),
    Column("reverse_note", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(128), nullable=False),
    Index(None, "to_id"),
)

#: The schema registry (issue 10): immutable versions of named JSON Schemas. A deleted version
#: keeps its row (`deleted_at`) so its number is never reused for other content.
schemas = Table(
    "schemas",
    metadata,
    Column("namespace", String(64), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("digest", String(71), nullable=False),
    Column("dialect", String(200), nullable=False),
    Column("body", JSONDoc, nullable=False),
    Column("refs", JSONDoc, nullable=False),
    Column("description", Text, nullable=False, server_default=text("''")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("deleted_at", UTCDateTime),
    Index("ix_schemas_namespace_name_digest", "namespace", "name", "digest"),
)


#: The MCP server registry (issue 12, D11): one row per named upstream; `spec` holds the entry
#: (secret names only, never values).
mcp_servers = Table(
    "mcp_servers",
    metadata,
    Column("namespace", String(64), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("spec", JSONDoc, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)


#: Sessions whose status is `active` per namespace (issue 16), kept by database triggers on
#: `sessions` (migration 0008), so every path that starts, ends, expires, stops or deletes a
#: session keeps it exact. An upper bound of the live count (a lapsed lease stays `active`
#: until swept): `start` counts exactly only when this reaches the limit.
session_counts = Table(
    "session_counts",
    metadata,
    Column("namespace", String(64), primary_key=True),
    Column("active", BigInteger, nullable=False),
)
