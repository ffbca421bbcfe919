"""Audit and events: Merkle tree, checkpoints, segments, signing keys, markers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

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


def _backfill_merkle() -> None:
    """Journals written before this revision get their leaf hashes, tree nodes and frontier."""
    # Filled in by the Merkle tree work (journal/merkle.py): see that module.


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
