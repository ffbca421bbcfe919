"""Rotation time for a large segment (D5): seal N entries (default 1,000,000) into an archive.

The segment is built with the service's batched appends (`--batch` entries per call, 1000 by
default; automatic rotation off, hash chain, Merkle tree and checkpoints on, as in real use),
then `core.rotation.rotate` seals it, timed end to end: reading every entry, re-checking its
hash, chain link and leaf hash, the segment's Merkle root, the gzip archive and the Markdown
rendering (both fsynced), and the single commit (rotation entry, segment row, checkpoint).
The archive phase is the time until the last entry was archived (from the progress callback);
commit is the rest. A second rotation of a small segment right after shows the fixed cost.
Prints one JSON object.

    python benchmarks/rotation.py [--entries 1000000] [--batch 1000] [--verify] [--database-url ...]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from benchlib import (
    Interference,
    add_common_args,
    backend_of,
    emit,
    entry_payload,
    log,
    machine_info,
    rounded,
    scratch_database,
    temp_data_dir,
    wait_quiet,
)
from roundtable.config import Settings
from roundtable.journal.models import EntryInput, Status
from roundtable.runtime import Roundtable

NS, PROJECT, AGENT = "default", "bench", "bench-agent"


def settings_for(data_dir: Path, database_url: str | None, batch: int) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        write_rate_per_second=1e9,
        write_burst=10**9,
        max_batch_entries=max(1_000, batch),
        rotate_max_entries=0,
        rotate_max_bytes=0,
    )


def batch_of(start: int, size: int) -> list[EntryInput]:
    items = []
    for i in range(start, start + size):
        message, status, kind, meta = entry_payload(i)
        items.append(EntryInput(message=message, status=Status(status), kind=kind, meta=meta))
    return items


async def build(core: Roundtable, entries: int, batch: int) -> dict[str, Any]:
    await core.journal.create_project(NS, AGENT, PROJECT)
    started = time.perf_counter()
    done = 0
    while done < entries:
        size = min(batch, entries - done)
        await core.journal.append(NS, AGENT, PROJECT, batch_of(done, size))
        done += size
        if done % 100_000 == 0:
            log(f"built {done:,} entries ({done / (time.perf_counter() - started):,.0f}/s)")
    seconds = time.perf_counter() - started
    return {
        "entries": entries,
        "seconds": rounded(seconds),
        "entries_per_s": rounded(done / seconds, 1),
    }


async def rotate(core: Roundtable, entries: int) -> dict[str, Any]:
    archived_at: list[float] = []

    def progress(done: int, total: int) -> None:
        if done == total:
            archived_at.append(time.perf_counter())

    interference = Interference()
    interference.start()
    started = time.perf_counter()
    result = await core.rotation.rotate(NS, PROJECT, progress=progress)
    ended = time.perf_counter()
    archive = core.settings.data_dir / result.archive
    markdown = core.settings.data_dir / result.markdown
    total = ended - started
    archive_phase = (archived_at[-1] - started) if archived_at else total
    return {
        "segment": result.segment,
        "first_seq": result.first_seq,
        "last_seq": result.last_seq,
        "seconds": rounded(total),
        "entries_per_s": rounded(entries / total, 1),
        "archive_phase_s": rounded(archive_phase),
        "seal_and_commit_s": rounded(total - archive_phase),
        "archive_bytes": archive.stat().st_size,
        "markdown_bytes": markdown.stat().st_size,
        "interference": interference.report(),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    backend = backend_of(args.database_url)
    busy = wait_quiet(args.wait_quiet) if args.wait_quiet > 0 else None
    async with scratch_database(args.database_url) as database_url:
        with temp_data_dir("rotation", args.keep) as data_dir:
            settings = settings_for(data_dir, database_url, args.batch)
            async with Roundtable.open(settings, sweeper=False) as core:
                log(f"building a {args.entries:,}-entry segment ({backend})")
                built = await build(core, args.entries, args.batch)
                log(f"rotating {args.entries:,} entries")
                big = await rotate(core, args.entries)
                log(f"rotated in {big['seconds']} s")
                await core.journal.append(NS, AGENT, PROJECT, batch_of(0, 100))
                small = await rotate(core, 101)
                verified: dict[str, Any] | None = None
                if args.verify:
                    log("verifying the journal")
                    verify_started = time.perf_counter()
                    report = await core.journal.verify(NS, PROJECT)
                    verified = {
                        "ok": report.ok,
                        "seconds": rounded(time.perf_counter() - verify_started),
                    }
    return {
        "benchmark": "rotation",
        "backend": backend,
        "options": {"entries": args.entries, "batch": args.batch},
        "machine": machine_info(),
        "quiet_wait_busy_share": busy,
        "build": built,
        "rotation": big,
        "small_rotation_101_entries": small,
        "verify_after": verified,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000, help="segment size (1000000)")
    parser.add_argument("--batch", type=int, default=1000, help="entries per append (1000)")
    parser.add_argument(
        "--verify", action="store_true", help="also time a full verify of the journal afterwards"
    )
    add_common_args(parser)
    emit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
