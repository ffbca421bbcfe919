"""Context store: documents, their chunks with a full-text index, tags and relations.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from roundtable.store.types import BigIntPK, JSONDoc, UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("namespace", sa.String(64), sa.ForeignKey("namespaces.name"), nullable=False),
        sa.Column("root_session", sa.String(36), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("content_type", sa.String(128), nullable=False),
        sa.Column("tags", JSONDoc, nullable=False),
        sa.Column("metadata", JSONDoc, nullable=False),
        sa.Column("lifecycle", sa.String(16), nullable=False),
        sa.Column("length", sa.BigInteger, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_origin", sa.String(16), nullable=False),
        sa.Column("created_session", sa.String(36)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.UniqueConstraint(
            "namespace", "root_session", "name", name="uq_documents_namespace_root_session_name"
        ),
    )
    op.create_index(
        "ix_documents_lifecycle_root_session", "documents", ["lifecycle", "root_session"]
    )
    op.create_table(
        "document_chunks",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column(
            "document_id",
            sa.String(36),
            sa.ForeignKey("documents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("pos", sa.BigInteger, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("length", sa.Integer, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_document_chunks_document_id_pos", "document_chunks", ["document_id", "pos"])
    op.create_table(
        "document_tags",
        sa.Column(
            "document_id",
            sa.String(36),
            sa.ForeignKey("documents.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("tag", sa.String(64), primary_key=True),
    )
    op.create_index("ix_document_tags_tag", "document_tags", ["tag"])
    op.create_table(
        "document_relations",
        sa.Column(
            "from_id",
            sa.String(36),
            sa.ForeignKey("documents.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "to_id",
            sa.String(36),
            sa.ForeignKey("documents.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("namespace", sa.String(64), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("reverse_note", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
    )
    op.create_index("ix_document_relations_to_id", "document_relations", ["to_id"])
    _full_text_index()


def _full_text_index() -> None:
    """SQLite: an external-content FTS5 table over the chunks, kept by triggers in the writing
    transaction; PostgreSQL: a generated tsvector column with a GIN index. Words are split the
    same way on both (punctuation is a separator, no stemming), as for journal entries."""
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE document_chunks ADD COLUMN tsv tsvector GENERATED ALWAYS AS "
            "(to_tsvector('simple', regexp_replace(body, '[[:punct:][:space:]]+', ' ', 'g'))) "
            "STORED"
        )
        op.execute("CREATE INDEX ix_document_chunks_tsv ON document_chunks USING gin (tsv)")
        return
    op.execute(
        "CREATE VIRTUAL TABLE document_chunks_fts USING fts5(body, content='document_chunks', "
        "content_rowid='id', tokenize='unicode61 remove_diacritics 0')"
    )
    op.execute(
        "CREATE TRIGGER document_chunks_fts_insert AFTER INSERT ON document_chunks BEGIN "
        "INSERT INTO document_chunks_fts(rowid, body) VALUES (new.id, new.body); END"
    )
    op.execute(
        "CREATE TRIGGER document_chunks_fts_delete AFTER DELETE ON document_chunks BEGIN "
        "INSERT INTO document_chunks_fts(document_chunks_fts, rowid, body) "
        "VALUES ('delete', old.id, old.body); END"
    )
    op.execute(
        "CREATE TRIGGER document_chunks_fts_update AFTER UPDATE OF body ON document_chunks BEGIN "
        "INSERT INTO document_chunks_fts(document_chunks_fts, rowid, body) "
        "VALUES ('delete', old.id, old.body); "
        "INSERT INTO document_chunks_fts(rowid, body) VALUES (new.id, new.body); END"
    )


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        op.execute("DROP TABLE document_chunks_fts")
    for table in ("document_relations", "document_tags", "document_chunks", "documents"):
        op.drop_table(table)
