"""Rotation and the mirror across real processes, on both backends: `roundtable rotate` killed
with SIGKILL at each step (then verify and a rerun), concurrent rotations from several
processes, and concurrent appenders from several processes sharing one mirror file."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import func, select

from roundtable.config import Settings
from roundtable.journal import archive
from roundtable.journal.models import EntryInput
from roundtable.runtime import Roundtable
from roundtable.store import tables
from tests.live import env_for, roundtable_exe

NS = "default"
STEPS = ["after_archive_temp", "after_archive", "before_commit", "after_commit"]


async def prepare(settings: Settings, entries: int = 300, mirror: bool = True) -> None:
    async with Roundtable.open(settings, sweeper=False) as core:
        await core.journal.create_project(NS, "alice", "web")
        if mirror:
            await core.mirrors.set_mirror(NS, "web", "web/PROGRESS_LOG.md")
        for at in range(0, entries, 100):
            await core.journal.append(
                NS,
                "alice",
                "web",
                [EntryInput(message=f"entry {at + i}", meta={"n": at + i}) for i in range(100)],
            )


def rotate(settings: Settings, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [roundtable_exe(), "rotate", "web", "--json"],
        env=env_for(settings, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def state(settings: Settings) -> tuple[list[dict[str, object]], int, bool]:
    """(segments, rotation entries, verify ok)."""
    async with Roundtable.open(settings, sweeper=False) as core:
        async with core.db.read() as conn:
            segments = [dict(r) for r in (await conn.execute(select(tables.segments))).mappings()]
            rotations = await conn.scalar(
                select(func.count())
                .select_from(tables.entries)
                .where(tables.entries.c.kind == "rotation")
            )
        report = await core.journal.verify(NS, "web")
    return segments, int(rotations or 0), report.ok


@pytest.mark.slow
@pytest.mark.parametrize("step", STEPS)
def test_sigkill_at_each_step_then_rerun(settings: Settings, step: str) -> None:
    asyncio.run(prepare(settings))
    mirror_file = settings.data_dir / "mirrors" / "web" / "PROGRESS_LOG.md"
    killed = rotate(settings, ROUNDTABLE_FAULT=f"rotate:{step}")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    segments, rotations, ok = asyncio.run(state(settings))
    assert ok, f"verify failed after a kill at {step}"
    committed = step == "after_commit"
    assert (len(segments), rotations) == ((1, 1) if committed else (0, 0))
    arch = settings.data_dir / "archives" / NS / "web" / archive.archive_name(1)
    crashed_bytes = arch.read_bytes() if arch.exists() else None
    if step in ("after_archive", "before_commit"):
        assert crashed_bytes is not None

    rerun = rotate(settings)
    if committed:
        assert rerun.returncode == 4, rerun.stderr  # nothing left to rotate: a clear conflict
        assert "nothing to rotate" in rerun.stderr
    else:
        assert rerun.returncode == 0, rerun.stderr
        assert json.loads(rerun.stdout)["last_seq"] == 300
    segments, rotations, ok = asyncio.run(state(settings))
    assert ok and (len(segments), rotations) == (1, 1)
    (segment,) = segments
    assert (segment["first_seq"], segment["last_seq"], segment["rotation_seq"]) == (1, 300, 301)
    assert archive.file_sha256(arch) == segment["archive_sha256"]
    if crashed_bytes is not None:
        assert arch.read_bytes() == crashed_bytes  # the rerun rewrote identical bytes
    assert not list(arch.parent.glob(".*.tmp"))
    text = mirror_file.read_text()
    assert "Segment 2, entries from seq 301." in text  # the mirror moved to the new segment
    assert text.count("[Project: web]") == 1 and "rotated segment 1 (seq 1–300)" in text


@pytest.mark.slow
def test_concurrent_rotations_from_processes(settings: Settings) -> None:
    asyncio.run(prepare(settings, entries=2000, mirror=False))
    procs = [
        subprocess.Popen(
            [roundtable_exe(), "rotate", "web", "--json"],
            env=env_for(settings),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outcomes = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    codes = sorted(code for code, _, _ in outcomes)
    assert codes == [0, 4, 4], outcomes
    for code, _, stderr in outcomes:
        if code == 4:
            assert "conflict:" in stderr
    segments, rotations, ok = asyncio.run(state(settings))
    assert ok and len(segments) == 1 and rotations == 1


APPENDER = textwrap.dedent(
    """
    import asyncio, sys
    from roundtable.config import Settings
    from roundtable.journal.models import EntryInput
    from roundtable.runtime import Roundtable

    async def main(name: str, count: int) -> None:
        async with Roundtable.open(Settings(), sweeper=False) as core:
            for i in range(count):
                await core.journal.append(
                    "default", name, "web", [EntryInput(message=f"{name} {i}", meta={"i": i})]
                )

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


@pytest.mark.slow
def test_concurrent_appenders_share_the_mirror(settings: Settings) -> None:
    asyncio.run(prepare(settings, entries=100))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", APPENDER, f"agent{n}", "40"],
            env=env_for(settings),
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read()  # type: ignore[union-attr]
    asyncio.run(check_mirror(settings))


async def check_mirror(settings: Settings) -> None:
    mirror_file = settings.data_dir / "mirrors" / "web" / "PROGRESS_LOG.md"
    async with Roundtable.open(settings, sweeper=False) as core:
        page_messages: list[str] = []
        cursor = None
        while True:
            page = await core.journal.read_recent(NS, "web", limit=100, cursor_=cursor)
            page_messages += [e.message for e in page.entries]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        expected = list(reversed(page_messages))
        lines = [line for line in mirror_file.read_text().splitlines() if line.startswith("[")]
        assert len(lines) == len(expected) == 220
        for line, message in zip(lines, expected, strict=True):
            assert line.split("] ", 4)[4].split(" | ")[0] == message
        before = mirror_file.read_bytes()
        rendered = settings.data_dir / "rendered.md"
        await core.mirrors.render(NS, "web", rendered)
        assert rendered.read_bytes() == before
        await core.mirrors.render(NS, "web", None)
        assert mirror_file.read_bytes() == before
