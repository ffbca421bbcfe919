"""Audit and events: Merkle tree, checkpoints, segments, signing keys, markers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from roundtable.store.migrations.frozen import journal_v1
from roundtable.store.types import BigIntPK, JSONDoc, UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "projects",
        sa.Column("tree_frontier", JSONDoc, nullable=False, server_default=sa.text("'[]'")),
    )
    op.add_column(
        "projects",
        sa.Column("segment_bytes", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    )
    op.add_column("projects", sa.Column("mirror_path", sa.Text))
    op.add_column(
        "entries",
        sa.Column("leaf_hash", sa.String(64), nullable=False, server_default=sa.text("''")),
    )
    op.add_column(
        "entries",
        sa.Column("pruned", sa.Boolean, nullable=False, server_default=sa.text("false")),
    )
    op.create_table(
        "merkle_nodes",
        sa.Column("project_id", BigIntPK, sa.ForeignKey("projects.id"), primary_key=True),
        sa.Column("level", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "checkpoints",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("project_id", BigIntPK, sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("root", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_checkpoints_project_id_size", "checkpoints", ["project_id", "size"])
    op.create_table(
        "segments",
        sa.Column("project_id", BigIntPK, sa.ForeignKey("projects.id"), primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("first_seq", sa.Integer, nullable=False),
        sa.Column("last_seq", sa.Integer, nullable=False),
        sa.Column("root", sa.String(64), nullable=False),
        sa.Column("tree_root", sa.String(64), nullable=False),
        sa.Column("archive", sa.Text, nullable=False),
        sa.Column("archive_sha256", sa.String(64), nullable=False),
        sa.Column("markdown", sa.Text, nullable=False),
        sa.Column("rotation_seq", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("pruned_at", UTCDateTime),
    )
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("retired_at", UTCDateTime),
    )
    op.create_table(
        "markers",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    _backfill_merkle()


#: The columns the backfill touches, as revision 0001 left them (never the live `tables`, which
#: later revisions may change).
_projects = sa.table(
    "projects",
    sa.column("id", BigIntPK),
    sa.column("namespace", sa.String),
    sa.column("name", sa.String),
    sa.column("tree_frontier", JSONDoc),
    sa.column("segment_bytes", sa.BigInteger),
)
_entries = sa.table(
    "entries",
    sa.column("id", BigIntPK),
    sa.column("project_id", BigIntPK),
    sa.column("seq", sa.Integer),
    sa.column("ts", UTCDateTime),
    sa.column("agent", sa.String),
    sa.column("session_id", sa.String),
    sa.column("status", sa.String),
    sa.column("kind", sa.String),
    sa.column("message", sa.Text),
    sa.column("meta", JSONDoc),
    sa.column("prev_hash", sa.String),
    sa.column("leaf_hash", sa.String),
)
_nodes = sa.table(
    "merkle_nodes",
    sa.column("project_id", BigIntPK),
    sa.column("level", sa.Integer),
    sa.column("idx", sa.BigInteger),
    sa.column("hash", sa.LargeBinary),
)
_CHUNK = 5_000


def _backfill_merkle() -> None:
    """Journals written before this revision get their leaf hashes, tree nodes and frontier.

    Each project's entries are read in seq order, in chunks, and fed to the same incremental
    tree appends use (frozen in `migrations.frozen.journal_v1`), so the stored tree equals one
    built entry by entry.
    """
    bind = op.get_bind()
    projects = bind.execute(
        sa.select(_projects.c.id, _projects.c.namespace, _projects.c.name).order_by(_projects.c.id)
    ).all()
    set_leaf = (
        _entries.update()
        .where(_entries.c.id == sa.bindparam("_id"))
        .values(leaf_hash=sa.bindparam("_leaf"))
    )
    for project_id, namespace, name in projects:
        frontier: list[bytes] = []
        size = segment_bytes = 0
        while True:
            rows = bind.execute(
                sa.select(_entries)
                .where(_entries.c.project_id == project_id, _entries.c.seq > size)
                .order_by(_entries.c.seq)
                .limit(_CHUNK)
            ).all()
            if not rows:
                break
            leaves: list[bytes] = []
            for row in rows:
                if row.seq != size + len(leaves) + 1:
                    raise RuntimeError(
                        f"project {namespace}/{name}: entry {row.seq} follows "
                        f"{size + len(leaves)}; the journal has a gap, repair it before upgrading"
                    )
                canonical = journal_v1.canonical_entry(
                    namespace=namespace,
                    project=name,
                    seq=row.seq,
                    ts=row.ts,
                    agent=row.agent,
                    session_id=row.session_id,
                    status=row.status,
                    kind=row.kind,
                    message=row.message,
                    meta=row.meta,
                    prev_hash=row.prev_hash,
                )
                leaves.append(journal_v1.leaf_hash(canonical))
                segment_bytes += len(canonical)
            updates = [{"_id": r.id, "_leaf": h.hex()} for r, h in zip(rows, leaves, strict=True)]
            bind.execute(set_leaf, updates)
            frontier, completed = journal_v1.append_leaves(frontier, size, leaves)
            if completed:
                bind.execute(
                    _nodes.insert(),
                    [
                        {"project_id": project_id, "level": level, "idx": idx, "hash": h}
                        for level, idx, h in completed
                    ],
                )
            size += len(rows)
        bind.execute(
            _projects.update()
            .where(_projects.c.id == project_id)
            .values(tree_frontier=[h.hex() for h in frontier], segment_bytes=segment_bytes)
        )


def downgrade() -> None:
    for table in ("markers", "signing_keys", "segments", "checkpoints", "merkle_nodes"):
        op.drop_table(table)
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("pruned")
        batch.drop_column("leaf_hash")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("mirror_path")
        batch.drop_column("segment_bytes")
        batch.drop_column("tree_frontier")
