"""SQLite: journal entries are full-text indexed in batches, not one FTS5 write per append.

An AFTER INSERT trigger wrote `entries_fts` in every append's transaction: FTS5 writes a new
level-0 segment (several pages) per transaction, ~0.05 ms of a ~0.26 ms append (issue 16). The
trigger goes; the `markers` row `entries_fts_upto` holds the highest entry id indexed (all of
them now: the trigger kept the index complete), and `journal.text_index.catch_up` indexes the
entries above it in batches (every few dozen appends, and before a text search, so a search
still finds every entry committed before it began).

The delete and update triggers touch the index only for entries it holds: asking an
external-content FTS5 table to delete a row it never indexed corrupts it. An entry changed
before it is indexed is indexed later with its current text. PostgreSQL keeps its generated
`tsv` column (indexed with the row itself): nothing changes there.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_UPTO = "(SELECT value FROM markers WHERE name = 'entries_fts_upto')"
_DELETE_OLD = (
    "INSERT INTO entries_fts(entries_fts, rowid, message) VALUES ('delete', old.id, old.message);"
)
_INSERT_NEW = "INSERT INTO entries_fts(rowid, message) VALUES (new.id, new.message);"


def _sqlite() -> bool:
    return bool(op.get_context().dialect.name == "sqlite")


def upgrade() -> None:
    if not _sqlite():
        return
    for trigger in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER entries_fts_{trigger}")
    op.execute(
        "INSERT INTO markers (name, value) "
        "SELECT 'entries_fts_upto', coalesce(max(id), 0) FROM entries"
    )
    op.execute(
        "CREATE TRIGGER entries_fts_delete AFTER DELETE ON entries "
        f"WHEN old.id <= {_UPTO} BEGIN {_DELETE_OLD} END"
    )
    op.execute(
        "CREATE TRIGGER entries_fts_update AFTER UPDATE OF message ON entries "
        f"WHEN old.id <= {_UPTO} BEGIN {_DELETE_OLD} {_INSERT_NEW} END"
    )


def downgrade() -> None:
    """Index the entries not indexed yet, then keep the index by triggers again (0001's)."""
    if not _sqlite():
        return
    op.execute(
        "INSERT INTO entries_fts(rowid, message) "
        f"SELECT id, message FROM entries WHERE id > {_UPTO} ORDER BY id"
    )
    op.execute("DELETE FROM markers WHERE name = 'entries_fts_upto'")
    for trigger in ("delete", "update"):
        op.execute(f"DROP TRIGGER entries_fts_{trigger}")
    op.execute(f"CREATE TRIGGER entries_fts_insert AFTER INSERT ON entries BEGIN {_INSERT_NEW} END")
    op.execute(f"CREATE TRIGGER entries_fts_delete AFTER DELETE ON entries BEGIN {_DELETE_OLD} END")
    op.execute(
        "CREATE TRIGGER entries_fts_update AFTER UPDATE OF message ON entries "
        f"BEGIN {_DELETE_OLD} {_INSERT_NEW} END"
    )
