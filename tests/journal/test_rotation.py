"""Rotation (D5) through the service, on both backends: archive bytes, rotation entry, segment
row, checkpoint, event, refusals, and automatic rotation by entries and by bytes."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from typing import Any

import pytest
from sqlalchemy import select

from roundtable.config import Settings
from roundtable.errors import ConflictError, NotFound
from roundtable.journal import archive, tree
from roundtable.journal.models import EntryInput
from roundtable.runtime import Roundtable
from roundtable.store import tables
from tests.journal import independent

NS = "default"
META_KEYS = {"segment", "first_seq", "last_seq", "root", "tree_root", "archive", "archive_sha256"}


async def fill(core: Roundtable, project: str, n: int, *, start: int = 0) -> None:
    items = [
        EntryInput(message=f"entry {start + i}\nline two", meta={"i": start + i, "s": "x=y; z"})
        for i in range(n)
    ]
    if n > 1:  # floats whose RFC 8785 form differs from Python's json (1e20: no exponent)
        items[1] = EntryInput(message="floats é ✓", meta={"f": 1e20, "g": 0.1, "h": -1e-7})
    for at in range(0, n, 1000):
        await core.journal.append(NS, "alice", project, items[at : at + 1000])


async def rows_of(core: Roundtable, table: Any, **where: Any) -> list[Any]:
    async with core.db.read() as conn:
        query = select(table)
        for key, value in where.items():
            query = query.where(table.c[key] == value)
        return list((await conn.execute(query)).mappings().all())


async def test_rotate_seals_segment(core: Roundtable) -> None:
    await core.journal.create_project(NS, "alice", "web")
    await fill(core, "web", 25)
    result = await core.rotation.rotate(NS, "web")
    assert (result.segment, result.first_seq, result.last_seq) == (1, 1, 25)
    assert result.rotation_seq == 26
    assert result.archive == "archives/default/web/segment-000001.jsonl.gz"
    assert result.markdown == "archives/default/web/segment-000001.md"

    path = core.settings.data_dir / result.archive
    raw = path.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == result.archive_sha256
    assert raw[4:8] == b"\0\0\0\0"  # gzip mtime 0: deterministic bytes
    lines = gzip.decompress(raw).split(b"\n")
    assert lines[-1] == b""
    lines = lines[:-1]
    page = await core.journal.query(NS, _filter(limit=100, order="oldest", seq_max=25))
    assert [e.seq for e in page.entries] == list(range(1, 26))
    for line, entry in zip(lines, page.entries, strict=True):
        assert hashlib.sha256(line).hexdigest() == entry.hash
    leaves = [independent.leaf(line) for line in lines]
    assert independent.mth(leaves).hex() == result.root
    async with core.db.read() as conn:
        project_id = (await rows_of(core, tables.projects, name="web"))[0]["id"]
        assert (await tree.root_at(conn, project_id, 25)).hex() == result.tree_root

    rotation = (await core.journal.read_recent(NS, "web", limit=1)).entries[0]
    assert (rotation.seq, rotation.kind, rotation.status.value) == (26, "rotation", "info")
    assert rotation.agent == "roundtable"
    assert rotation.message == "rotated segment 1 (seq 1–25)"
    assert set(rotation.meta) == META_KEYS
    assert rotation.meta["archive_sha256"] == result.archive_sha256
    assert rotation.meta["root"] == result.root

    (segment,) = await rows_of(core, tables.segments, project_id=project_id)
    assert (segment["number"], segment["first_seq"], segment["last_seq"]) == (1, 1, 25)
    assert segment["rotation_seq"] == 26 and segment["pruned_at"] is None
    assert segment["archive_sha256"] == result.archive_sha256
    project_row = (await rows_of(core, tables.projects, name="web"))[0]
    assert 0 < project_row["segment_bytes"] < 2000  # only the rotation entry is left open
    checkpoints = await rows_of(core, tables.checkpoints, project_id=project_id)
    assert 26 in {c["size"] for c in checkpoints}
    rotated = [e for e in await rows_of(core, tables.events) if e["type"] == "journal.rotated"]
    assert len(rotated) == 1 and rotated[0]["payload"]["rotation_seq"] == 26
    md = (core.settings.data_dir / result.markdown).read_text()
    assert md.count("[Agent: alice] [Project: web] entry 3\\nline two | i=3; s=x=y; z\n") == 1
    assert (await core.journal.verify(NS, "web")).ok

    with pytest.raises(ConflictError, match="nothing to rotate"):
        await core.rotation.rotate(NS, "web")
    await fill(core, "web", 3, start=100)
    second = await core.rotation.rotate(NS, "web")
    assert (second.segment, second.first_seq, second.last_seq) == (2, 26, 29)
    assert (await core.journal.verify(NS, "web")).ok


async def test_rotate_refuses_empty_and_unknown(core: Roundtable) -> None:
    await core.journal.create_project(NS, "alice", "empty")
    with pytest.raises(ConflictError, match="nothing to rotate"):
        await core.rotation.rotate(NS, "empty")
    with pytest.raises(NotFound):
        await core.rotation.rotate(NS, "nope")
    assert await rows_of(core, tables.segments) == []
    assert not list((core.settings.data_dir / "archives" / NS / "empty").glob("segment-*"))


async def test_concurrent_rotations_in_one_process(core: Roundtable) -> None:
    await core.journal.create_project(NS, "alice", "web")
    await fill(core, "web", 40)
    results = await asyncio.gather(
        *(core.rotation.rotate(NS, "web") for _ in range(4)), return_exceptions=True
    )
    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, BaseException)]
    assert len(wins) == 1 and all(isinstance(e, ConflictError) for e in losses)
    assert len(await rows_of(core, tables.segments)) == 1
    assert (await core.journal.verify(NS, "web")).ok


async def test_appends_during_rotation_go_to_next_segment(core: Roundtable) -> None:
    await core.journal.create_project(NS, "alice", "web")
    await fill(core, "web", 3000)

    async def appender() -> None:
        for i in range(20):
            await fill(core, "web", 5, start=10_000 + i * 5)

    result, _ = await asyncio.gather(core.rotation.rotate(NS, "web"), appender())
    assert result.first_seq == 1 and result.last_seq >= 3000
    head = await core.journal.get_project(NS, "web")
    assert head.size == 3000 + 100 + 1
    lines = list(archive.read_lines(core.settings.data_dir / result.archive))
    assert len(lines) == result.last_seq
    assert (await core.journal.verify(NS, "web")).ok
    await fill(core, "web", 1, start=99_999)
    second = await core.rotation.rotate(NS, "web")
    assert second.first_seq == result.last_seq + 1 and second.last_seq == head.size + 1


@pytest.fixture
def auto_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rotate_max_entries": 10, "rotate_max_bytes": 0})


async def test_automatic_rotation_by_entries(auto_settings: Settings) -> None:
    async with Roundtable.open(auto_settings, sweeper=False) as core:
        await core.journal.create_project(NS, "alice", "auto")
        for i in range(12):
            await fill(core, "auto", 1, start=i)
            await core.autorotate.wait_idle()
        segments = await rows_of(core, tables.segments)
        assert [(s["first_seq"], s["last_seq"]) for s in segments] == [(1, 10)]
        assert (await core.journal.verify(NS, "auto")).ok


async def test_automatic_rotation_by_bytes(settings: Settings) -> None:
    tuned = settings.model_copy(update={"rotate_max_entries": 0, "rotate_max_bytes": 4_000})
    async with Roundtable.open(tuned, sweeper=False) as core:
        await core.journal.create_project(NS, "alice", "bytes")
        for i in range(30):
            await fill(core, "bytes", 1, start=i)
            await core.autorotate.wait_idle()
        segments = await rows_of(core, tables.segments)
        assert len(segments) >= 2
        for seg in segments:
            size = sum(
                len(line) for line in archive.read_lines(core.settings.data_dir / seg["archive"])
            )
            assert size >= 4_000
        assert (await core.journal.verify(NS, "bytes")).ok


def _filter(**kwargs: Any) -> Any:
    from roundtable.journal.models import QueryFilter

    return QueryFilter(**kwargs)


async def test_failed_automatic_rotation_is_logged_and_retried(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    tuned = settings.model_copy(update={"rotate_max_entries": 5, "rotate_max_bytes": 0})
    async with Roundtable.open(tuned, sweeper=False) as core:
        await core.journal.create_project(NS, "alice", "auto")
        blocker = core.settings.data_dir / "archives" / NS
        blocker.parent.mkdir(parents=True, exist_ok=True)
        blocker.write_text("a file where the namespace's archive directory should be")
        result = await core.journal.append(
            NS, "alice", "auto", [EntryInput(message=f"m{i}") for i in range(6)]
        )
        assert result.last_seq == 6  # the append stands
        await core.autorotate.wait_idle()
        assert any(
            r.levelname == "ERROR" and "automatic rotation of default/auto failed" in r.getMessage()
            for r in caplog.records
        )
        assert await rows_of(core, tables.segments) == []
        blocker.unlink()
        await core.autorotate.maintain()  # not yet: the retry waits out its backoff
        await core.autorotate.wait_idle()
        assert await rows_of(core, tables.segments) == []
        for failure in core.autorotate._failed.values():
            failure.retry_at = 0.0  # let the backoff pass
        await core.autorotate.maintain()
        await core.autorotate.wait_idle()
        segments = await rows_of(core, tables.segments)
        assert [(s["first_seq"], s["last_seq"]) for s in segments] == [(1, 6)]
