"""The stdio MCP server remembers the checkpoints it saw and warns after a rollback (issue 15)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import insert, select

from roundtable.journal import checkpoints
from roundtable.journal.models import EntryInput
from roundtable.mcp.remember import check_once
from roundtable.runtime import Roundtable
from roundtable.store import tables
from tests.security import forge


async def test_a_rollback_of_the_database_is_reported(
    core: Roundtable, caplog: pytest.LogCaptureFixture
) -> None:
    await core.journal.create_project("default", "a", "web")
    for _ in range(2):
        await core.journal.append("default", "a", "web", [EntryInput(message="m")] * 8)
        await checkpoints.sign_now(core.db, core.signer, core.settings, "default", "web")
        assert (await check_once(core, "default"))["web"] in ("first", "extended")
    async with core.db.write() as conn:
        kept = [
            dict(r)
            for r in (
                await conn.execute(select(tables.checkpoints).where(tables.checkpoints.c.size <= 8))
            ).mappings()
        ]
        await forge.rechain(conn, "default", "web", forge.truncate(8))
        for row in kept:
            row.pop("id")
            await conn.execute(insert(tables.checkpoints).values(**row))
    with caplog.at_level(logging.WARNING, logger="roundtable.mcp"):
        assert (await check_once(core, "default"))["web"] == "rollback"
    assert any("ROLLBACK" in r.getMessage() for r in caplog.records)
