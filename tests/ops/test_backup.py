"""`roundtable backup` during a 4-process append storm, and `roundtable restore` of it.

Every entry acknowledged before the backup began is in the snapshot; the snapshot verifies;
a server started on the restored data serves it. On SQLite (`VACUUM INTO`) and PostgreSQL
(`pg_dump`/`pg_restore`), with the data directory's keys and archives alongside.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from roundtable.backup.service import create_backup, restore_backup
from roundtable.config import Settings
from roundtable.errors import ConflictError, InvalidInput
from roundtable.journal.models import EntryInput
from roundtable.runtime import Roundtable
from tests import live
from tests.conftest import scratch_database

WRITERS = 4
PROJECT = "storm"
FAST = {
    "ROUNDTABLE_WRITE_RATE_PER_SECOND": "1000000",
    "ROUNDTABLE_WRITE_BURST": "1000000",
    "ROUNDTABLE_CHECKPOINT_EVERY_ENTRIES": "50",
}


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [live.roundtable_exe(), *args],
        env=live.env_for(settings),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


async def target_settings(backend: str, tmp_path: Path, request: Any) -> AsyncIterator[Settings]:
    """Settings for an empty instance to restore into (a new PostgreSQL database if needed)."""
    data_dir = tmp_path / "restored"
    if backend == "sqlite":
        yield Settings(data_dir=data_dir, database_url=None, sweep_interval_seconds=3600)
        return
    async with scratch_database(request.getfixturevalue("pg_server")) as url:
        yield Settings(data_dir=data_dir, database_url=url, sweep_interval_seconds=3600)


@pytest.fixture
async def restored(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Settings]:
    async for settings in target_settings(backend, tmp_path, request):
        yield settings


async def seed(settings: Settings) -> None:
    """A journal with a sealed segment (so the backup carries an archive) and a checkpoint."""
    async with Roundtable.open(settings, sweeper=False) as core:
        await core.journal.create_project("default", "seeder", PROJECT)
        entries = [EntryInput(message=f"seed {i}") for i in range(10)]
        await core.journal.append("default", "seeder", PROJECT, entries)
        await core.rotation.rotate("default", PROJECT)


@pytest.mark.slow
async def test_backup_during_a_four_process_storm_restores_and_verifies(
    settings: Settings, restored: Settings, tmp_path: Path
) -> None:
    await seed(settings)
    env = live.env_for(settings, **FAST)
    writers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.ops.storm_writer",
            f"writer-{n}",
            PROJECT,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=Path(__file__).parent.parent.parent,
        )
        for n in range(WRITERS)
    ]
    acked: list[list[tuple[int, str]]] = [[] for _ in writers]
    warmed_up = asyncio.Event()  # every writer has had entries acknowledged

    async def collect(n: int) -> None:
        stdout = writers[n].stdout
        assert stdout is not None
        async for line in stdout:
            seq, digest = line.decode().split()
            acked[n].append((int(seq), digest))
            if min(len(a) for a in acked) >= 10:
                warmed_up.set()

    readers = [asyncio.create_task(collect(n)) for n in range(WRITERS)]
    try:
        await asyncio.wait_for(warmed_up.wait(), timeout=120)
        before = {item for a in acked for item in a}  # acknowledged before the backup began
        backup_dir = tmp_path / "backup"
        done = await asyncio.to_thread(cli, settings, "backup", str(backup_dir), "--json")
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        assert summary["backend"] == ("sqlite" if settings.is_sqlite else "postgresql")
        during = {item for a in acked for item in a}
        assert len(during) > len(before)  # the storm went on while the backup ran
    finally:
        for writer in writers:
            assert writer.stdin is not None
            writer.stdin.close()
        codes = [await writer.wait() for writer in writers]
        await asyncio.gather(*readers)
    for writer, code in zip(writers, codes, strict=True):
        assert writer.stderr is not None
        assert code == 0, (await writer.stderr.read()).decode()

    archives = list((backup_dir / "data" / "archives").rglob("*.jsonl.gz"))
    assert archives, "the sealed segment's archive is in the backup"
    assert (backup_dir / "data" / "keys" / "signing-ed25519.pem").is_file()
    assert (backup_dir / "data" / "admin.token").is_file()

    done = await asyncio.to_thread(cli, restored, "restore", str(backup_dir), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True
    [journal] = report["journals"]
    assert journal["project"] == PROJECT and journal["ok"]
    assert journal["checked"] >= 10 + len(before)

    with live.in_thread(restored) as server:
        stored = await asyncio.to_thread(read_all, server)
    have = {(e["seq"], e["hash"]) for e in stored}
    assert before <= have, f"{len(before - have)} acknowledged entries missing from the snapshot"
    assert [e["seq"] for e in stored] == list(range(1, len(stored) + 1))
    assert len(stored) == journal["checked"]


def read_all(server: live.LiveServer) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    cursor = None
    with httpx.Client(base_url=server.api(), headers=server.headers, timeout=60) as client:
        while True:
            r = client.post(
                "/entries/query",
                json={"projects": [PROJECT], "order": "oldest", "limit": 500, "cursor": cursor},
            )
            assert r.status_code == 200, r.text
            page = r.json()
            entries.extend(page["entries"])
            cursor = page["next_cursor"]
            if cursor is None:
                return entries


@pytest.mark.only_backend("sqlite")
async def test_restore_refuses_a_damaged_backup_or_a_used_target(
    settings: Settings, restored: Settings, tmp_path: Path
) -> None:
    await seed(settings)
    backup_dir = tmp_path / "backup"
    await create_backup(settings, backup_dir)
    with pytest.raises(ConflictError, match="not empty"):
        await create_backup(settings, backup_dir)

    # A damaged copy: one archive byte changed. Refused; nothing is written to the target.
    damaged = tmp_path / "damaged"
    shutil.copytree(backup_dir, damaged)
    [archive] = list((damaged / "data" / "archives").rglob("*.jsonl.gz"))
    data = bytearray(archive.read_bytes())
    data[-1] ^= 1
    archive.write_bytes(bytes(data))
    with pytest.raises(InvalidInput, match="damaged"):
        await restore_backup(restored, damaged)
    (damaged / "data" / "stray").write_text("not in the manifest")
    with pytest.raises(InvalidInput, match="does not match its manifest"):
        await restore_backup(restored, damaged)
    assert not restored.data_dir.exists() or not any(restored.data_dir.iterdir())

    # Not a backup at all.
    with pytest.raises(InvalidInput, match="not a Roundtable backup"):
        await restore_backup(restored, tmp_path)

    # A target that already holds data is refused, through the CLI with the conflict exit code.
    restored.data_dir.mkdir(parents=True, exist_ok=True)
    (restored.data_dir / "something").write_text("keep me")
    done = await asyncio.to_thread(cli, restored, "restore", str(backup_dir))
    assert done.returncode == 4, done.stderr
    assert "not empty" in done.stderr
    assert (restored.data_dir / "something").read_text() == "keep me"


@pytest.mark.only_backend("postgresql")
async def test_restore_refuses_a_postgresql_database_that_holds_data(
    settings: Settings, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    await seed(settings)
    backup_dir = tmp_path / "backup"
    result = await create_backup(settings, backup_dir)
    assert result.backend == "postgresql"
    assert (backup_dir / "database.pgdump").is_file()
    into_used = settings.model_copy(update={"data_dir": tmp_path / "fresh"})
    with pytest.raises(ConflictError, match="not empty"):
        await restore_backup(into_used, backup_dir)
    assert not (tmp_path / "fresh").exists()
    # A pg_restore that fails leaves the data directory as empty as it found it.
    async with scratch_database(request.getfixturevalue("pg_server")) as url:
        target = Settings(data_dir=tmp_path / "fresh", database_url=url)
        with pytest.raises(InvalidInput, match="pg_restore failed"):
            await restore_backup(target, backup_dir, pg_restore="/bin/false")
    assert not (tmp_path / "fresh").exists()
