"""Retention (D5) on both backends: sealed bodies leave the hot table (hashes stay), reads
fetch them from the archive transparently, queries name the archived ranges, verify passes,
and a missing or altered archive stops pruning."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from roundtable.config import Settings
from roundtable.errors import NotFound
from roundtable.journal import retention
from roundtable.journal.models import EntryInput, QueryFilter
from roundtable.runtime import Roundtable
from roundtable.store import tables
from tests.services.test_query_text import fts_consistent

NS = "default"
E = tables.entries


@pytest.fixture
def hot_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"hot_segments": 1})


async def build(core: Roundtable) -> list[Any]:
    """Segments 1 (seq 1-10), 2 (11-21) sealed, then 5 open entries."""
    await core.journal.create_project(NS, "alice", "web")
    results = []
    for batch, count in ((0, 10), (1, 10)):
        await core.journal.append(
            NS,
            "alice",
            "web",
            [
                EntryInput(message=f"needle b{batch} e{i}", meta={"b": batch, "i": i})
                for i in range(count)
            ],
        )
        results.append(await core.rotation.rotate(NS, "web"))
    await core.journal.append(
        NS, "alice", "web", [EntryInput(message=f"open {i}") for i in range(5)]
    )
    return results


async def rows(core: Roundtable) -> dict[int, Any]:
    async with core.db.read() as conn:
        result = await conn.execute(select(E).order_by(E.c.seq))
        return {r["seq"]: dict(r) for r in result.mappings()}


async def test_prune_read_and_query(hot_settings: Settings) -> None:
    async with Roundtable.open(hot_settings, sweeper=False) as core:
        first, second = await build(core)
        before = await rows(core)
        original = await core.journal.read_recent(NS, "web", limit=100)

        assert await retention.prune_due(core.db, core.settings) == 1
        assert await retention.prune_due(core.db, core.settings) == 0  # done once
        after = await rows(core)
        for seq, row in after.items():
            if seq <= first.last_seq:
                assert row["pruned"] and row["message"] == "" and row["meta"] == {}
                assert (row["hash"], row["leaf_hash"]) == (
                    before[seq]["hash"],
                    before[seq]["leaf_hash"],
                )
            else:
                assert not row["pruned"] and row == before[seq]
        async with core.db.read() as conn:
            segs = (
                (await conn.execute(select(tables.segments).order_by(tables.segments.c.number)))
                .mappings()
                .all()
            )
        assert [s["pruned_at"] is not None for s in segs] == [True, False]

        # read_recent reads pruned bodies back from the archive, transparently
        assert await core.journal.read_recent(NS, "web", limit=100) == original
        # query searches the hot table and names the range it could not search
        page = await core.journal.query(NS, QueryFilter(text="needle", limit=100))
        assert {e.seq for e in page.entries} == set(
            range(first.rotation_seq + 1, second.last_seq + 1)
        )
        assert [
            (a.project, a.segment, a.first_seq, a.last_seq, a.archive) for a in page.archived
        ] == [("web", 1, 1, 10, first.archive)]
        narrow = await core.journal.query(NS, QueryFilter(seq_min=11, limit=5))
        assert narrow.archived == []
        assert (await core.journal.verify(NS, "web")).ok
        await fts_consistent(core)  # pruned bodies left the full-text index too


async def test_damaged_archive_is_never_pruned_and_reads_fail_clearly(
    hot_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async with Roundtable.open(hot_settings, sweeper=False) as core:
        first, _ = await build(core)
        path = core.settings.data_dir / first.archive
        good = path.read_bytes()
        path.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
        assert await retention.prune_due(core.db, core.settings) == 0
        assert any("not pruning" in r.getMessage() for r in caplog.records)
        assert not any(r["pruned"] for r in (await rows(core)).values())
        path.write_bytes(good)
        assert await retention.prune_due(core.db, core.settings) == 1
        path.unlink()
        with pytest.raises(NotFound, match="cannot be read"):
            await core.journal.read_recent(NS, "web", limit=100)
        # the newest page does not reach the pruned range: still served
        assert len((await core.journal.read_recent(NS, "web", limit=5)).entries) == 5


async def test_sweeper_applies_retention(settings: Settings) -> None:
    tuned = settings.model_copy(update={"hot_segments": 0})
    async with Roundtable.open(tuned, sweeper=False) as core:
        await build(core)
        await core.autorotate.maintain()
        assert sum(r["pruned"] for r in (await rows(core)).values()) == 21
        assert (await core.journal.verify(NS, "web")).ok
