"""The migrations build exactly the schema `store/tables.py` declares, on both backends."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from roundtable.config import Settings
from roundtable.store import migrate
from roundtable.store.engine import Database
from roundtable.store.tables import metadata
from tests.live import env_for, roundtable_exe

#: Full-text machinery lives outside the declarative schema on purpose.
_OUTSIDE_METADATA = {"tsv", "ix_entries_tsv", "ix_document_chunks_tsv"} | {
    f"{table}_fts{suffix}"
    for table in ("entries", "document_chunks")
    for suffix in ("", "_data", "_idx", "_docsize", "_config", "_content")
}


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    diffs = compare_metadata(context, metadata)
    return [d for d in diffs if not any(name in repr(d) for name in _OUTSIDE_METADATA)]


async def test_migrated_schema_matches_tables(settings: Settings) -> None:
    db = Database(settings.effective_database_url)
    try:
        await migrate.upgrade(db)
        async with db.read() as conn:
            assert await conn.run_sync(_diff) == []
        assert await migrate.current_revision(db) == migrate.head_revision()
    finally:
        await db.close()


def test_db_upgrade_command_is_idempotent(settings: Settings) -> None:
    for _ in range(2):
        done = subprocess.run(
            [roundtable_exe(), "db", "upgrade"],
            env=env_for(settings),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert f"revision {migrate.head_revision()}" in done.stderr


@pytest.mark.slow
async def test_concurrent_first_starts_migrate_once(settings: Settings) -> None:
    """Four processes migrating a fresh database at once: all succeed, schema at head."""

    async def upgrade() -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            roundtable_exe(),
            "db",
            "upgrade",
            env=env_for(settings),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await proc.communicate()
        return proc.returncode or 0, err.decode()

    done = await asyncio.gather(*(upgrade() for _ in range(4)))
    assert [code for code, _ in done] == [0, 0, 0, 0], [err for _, err in done]
    db = Database(settings.effective_database_url)
    try:
        assert await migrate.current_revision(db) == migrate.head_revision()
    finally:
        await db.close()


def test_the_head_read_from_the_files_is_alembics() -> None:
    # `upgrade` skips Alembic when the database is at this revision: it must be the real head.
    assert migrate.head_from_files() == migrate.head_revision()
