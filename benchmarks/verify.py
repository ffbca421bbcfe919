"""`verify` throughput (entries/s) on a large journal (DESIGN: a 1,000,000-entry journal).

Builds the journal through the service (`core.journal.append`, batches of 1,000, realistic
entries; checkpoints signed every `--checkpoint-every` entries as in production; optionally
rotated into archived segments with `--rotate-every`, whose bodies `--prune` drops so verify
reads them back from the archives), then times `core.journal.verify` once: the hash chain, every
leaf hash, every stored Merkle node and the frontier, every checkpoint signature and root, every
archive. Reports entries/s, the counts checked, and the process's peak RSS before and after the
verify (it reads in pages, so memory stays bounded). Prints one JSON object.

    python benchmarks/verify.py [--entries 1000000] [--rotate-every 0] [--prune]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from typing import Any

from benchlib import (
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
from roundtable.journal import retention
from roundtable.journal.models import EntryInput, Status
from roundtable.runtime import Roundtable

NS, PROJECT, BATCH = "bench", "big", 1_000


def peak_rss_mb() -> float:
    return rounded(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


async def build(core: Roundtable, args: argparse.Namespace) -> float:
    await core.journal.create_project(NS, "bench", PROJECT)
    started = time.perf_counter()
    appended = 0
    while appended < args.entries:
        n = min(BATCH, args.entries - appended)
        items = []
        for i in range(appended, appended + n):
            message, status, kind, meta = entry_payload(i)
            items.append(EntryInput(message=message, status=Status(status), kind=kind, meta=meta))
        await core.journal.append(NS, "bench", PROJECT, items)
        appended += n
        if args.rotate_every and appended % args.rotate_every == 0:
            await core.rotation.rotate(NS, PROJECT)
        if appended % 100_000 == 0:
            log(f"appended {appended:,} entries")
    return time.perf_counter() - started


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    busy = wait_quiet(args.wait_quiet) if args.wait_quiet > 0 else None
    async with scratch_database(args.database_url) as database_url:
        with temp_data_dir("verify", args.keep) as data_dir:
            settings = Settings(
                data_dir=data_dir,
                database_url=database_url,
                write_rate_per_second=1e9,
                write_burst=10**9,
                checkpoint_every_entries=args.checkpoint_every,
                rotate_max_entries=0,
                rotate_max_bytes=0,
                hot_segments=0 if args.prune else None,
            )
            async with Roundtable.open(settings, sweeper=False) as core:
                build_s = await build(core, args)
                pruned = await retention.prune_due(core.db, settings) if args.prune else 0
                log(f"built in {build_s:.1f}s; verifying")
                rss_before = peak_rss_mb()
                last = [0.0]

                def progress(checked: int, total: int) -> None:
                    if time.perf_counter() - last[0] > 10:
                        last[0] = time.perf_counter()
                        log(f"verified {checked:,} of {total:,}")

                started, cpu_started = time.perf_counter(), time.process_time()
                report = await core.journal.verify(NS, PROJECT, progress=progress)
                verify_s = time.perf_counter() - started
                verify_cpu_s = time.process_time() - cpu_started
    if not report.ok:
        raise SystemExit(f"the benchmark journal does not verify: {report}")
    return {
        "benchmark": "verify",
        "backend": backend_of(args.database_url),
        "entries": report.checked,
        "verify_seconds": rounded(verify_s, 2),
        "verify_entries_per_s": rounded(report.checked / verify_s, 1),
        # CPU of this process (all its threads, incl. aiosqlite's): what a quiet machine sees.
        "verify_cpu_seconds": rounded(verify_cpu_s, 2),
        "verify_entries_per_cpu_s": rounded(report.checked / verify_cpu_s, 1),
        "checked": {
            "entries": report.checked,
            "tree_nodes": report.tree_nodes_checked,
            "checkpoints": report.checkpoints_checked,
            "segments": report.segments_checked,
            "archived_lines": report.archived_checked,
            "pruned_segments": pruned,
        },
        "build_seconds": rounded(build_s, 1),
        "build_entries_per_s": rounded(args.entries / build_s, 1),
        "peak_rss_mb": {"before_verify": rss_before, "after_verify": peak_rss_mb()},
        "settings": {
            "checkpoint_every": args.checkpoint_every,
            "rotate_every": args.rotate_every,
            "prune": args.prune,
            "batch": BATCH,
        },
        "machine": {**machine_info(), "busy_share_before": busy},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--checkpoint-every", type=int, default=1_000)
    parser.add_argument(
        "--rotate-every", type=int, default=0, help="rotate every N entries (0: never)"
    )
    parser.add_argument("--prune", action="store_true", help="drop sealed bodies (hot_segments=0)")
    add_common_args(parser)
    emit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
