"""Issue 15, defect 1: history rewritten with write access to the database alone.

An attacker edits an entry (or cuts the tail, or removes a sealed segment), recomputes hashes,
leaves, Merkle nodes, head and frontier with the public algorithm, and deletes the project's
checkpoints. `verify` must still see it (the anchor file in the data directory, expected
checkpoints), and the server must refuse to sign the forged root, reporting it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from roundtable.config import Settings
from roundtable.errors import ConflictError
from roundtable.ids import utcnow
from roundtable.journal import checkpoints
from roundtable.journal.models import EntryInput
from roundtable.runtime import Roundtable
from roundtable.store import tables
from tests.security import forge
from tests.services.util import events_of

NS = "default"


@pytest.fixture
async def core(settings: Settings) -> AsyncIterator[Roundtable]:
    tuned = settings.model_copy(update={"checkpoint_every_entries": 4})
    async with Roundtable.open(tuned, sweeper=False) as rt:
        yield rt


async def build(core: Roundtable, project: str, rotate: bool) -> None:
    """Entries 1..12 (checkpoints at 4, 8, 12), optionally a rotation (entry 13, checkpoint
    13), then 3 more entries and a checkpoint at the head (the sweeper's)."""
    await core.journal.create_project(NS, "setup", project)
    for start in range(1, 13, 2):
        items = [EntryInput(message=f"{project} {i}") for i in (start, start + 1)]
        await core.journal.append(NS, "alice", project, items)
    if rotate:
        await core.rotation.rotate(NS, project)
    await core.journal.append(NS, "alice", project, [EntryInput(message="tail")] * 3)
    await checkpoints.sign_now(core.db, core.signer, core.settings, NS, project)
    assert (await core.journal.verify(NS, project)).ok


async def signed_count(core: Roundtable) -> int:
    async with core.db.read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(tables.checkpoints)) or 0)


async def assert_refused(core: Roundtable, project: str) -> None:
    """Neither the sweeper nor a request signs the forged head; the refusal is an event."""
    before = await signed_count(core)
    later = utcnow() + timedelta(days=1)
    assert await checkpoints.sign_due(core.db, core.signer, core.settings, later) == 0
    with pytest.raises(ConflictError, match="refused"):
        await checkpoints.sign_now(core.db, core.signer, core.settings, NS, project)
    assert await signed_count(core) == before
    refused = await events_of(core.db, "checkpoint.refused")
    assert refused and refused[-1].payload["project"] == project


async def test_edit_and_rechain_is_detected_and_never_signed(
    core: Roundtable, caplog: pytest.LogCaptureFixture
) -> None:
    await build(core, "web", rotate=False)
    async with core.db.write() as conn:
        await forge.rechain(conn, NS, "web", forge.edit(5, "nothing happened here"))
    report = await core.journal.verify(NS, "web")
    assert (report.ok, report.problem, report.first_bad_seq) == (False, "checkpoint_mismatch", 5)
    assert "anchor file" in (report.detail or "")
    await assert_refused(core, "web")
    assert any("refusing to sign default/web" in r.message for r in caplog.records)
    # Appending on top of the forgery: still refused (no consistency proof from what we signed).
    await core.journal.append(NS, "alice", "web", [EntryInput(message="more")] * 5)
    await assert_refused(core, "web")


async def test_truncation_is_detected_and_never_signed(core: Roundtable) -> None:
    await build(core, "web", rotate=False)
    async with core.db.write() as conn:
        await forge.rechain(conn, NS, "web", forge.truncate(10))
    report = await core.journal.verify(NS, "web")
    assert (report.ok, report.problem) == (False, "truncated"), report
    await assert_refused(core, "web")


async def test_a_removed_sealed_segment_is_detected_and_never_signed(core: Roundtable) -> None:
    await build(core, "web", rotate=True)
    async with core.db.write() as conn:
        rotation_seq = await forge.drop_segment(conn, "web", 1)
        await forge.rechain(conn, NS, "web", forge.drop(rotation_seq))
    report = await core.journal.verify(NS, "web")
    assert (report.ok, report.problem, report.first_bad_seq) == (
        False,
        "checkpoint_mismatch",
        13,
    ), report
    await assert_refused(core, "web")


async def test_deleted_checkpoints_are_missing_even_without_the_anchor_file(
    core: Roundtable,
) -> None:
    """With the anchor file gone too, the checkpoints every interval must sign are missed."""
    await build(core, "web", rotate=True)
    async with core.db.write() as conn:
        await forge.rechain(conn, NS, "web", forge.edit(3, "rewritten"))
    for path in (core.settings.data_dir / "anchors").rglob("*.jsonl"):
        path.unlink()
    report = await core.journal.verify(NS, "web")
    assert not report.ok
    assert report.problem in ("missing_checkpoint", "archive_content"), report
