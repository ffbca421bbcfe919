"""Group commit through the service layer: many concurrent writers, with and without sharing
COMMITs (D18), at the same durability.

In one process (`Roundtable.open`, no HTTP, so the database's share of the cost shows), `--writers`
tasks call `core.context.set` (set_project) or `core.journal.append` (one entry) in a closed loop
for `--seconds`. Each round runs twice, interleaved so that both see the same background load:
`grouped` (the default writer: writers queued during a transaction share it and its COMMIT) and
`one_per_commit` (the same writer with groups capped at one write: every write its own COMMIT
and fsync, as before group commit). SQLite only (PostgreSQL has no such switch; see
`write_capacity.py --instances`). Reports calls/s, latency, writes per COMMIT, the speed-up
ratio (medians over `--rounds`), and the machine's load. Prints one JSON object.

    python benchmarks/group_commit.py [--writers 100] [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from pathlib import Path
from typing import Any

from benchlib import (
    Interference,
    emit,
    latency_ms,
    log,
    machine_report,
    rounded,
    temp_data_dir,
    wait_quiet,
)
from roundtable.config import Settings
from roundtable.journal.models import EntryInput
from roundtable.runtime import Roundtable


async def run(
    data_dir: Path, operation: str, grouped: bool, args: argparse.Namespace
) -> dict[str, Any]:
    settings = Settings(
        data_dir=data_dir,
        sweep_interval_seconds=3600,
        write_rate_per_second=1e9,
        write_burst=1_000_000_000,
        sqlite_synchronous=args.synchronous,
    )
    async with Roundtable.open(settings, sweeper=False) as core:
        writer = core.db.sqlite_writer
        assert writer is not None
        if not grouped:
            writer.max_group_writes = 1
        projects = [f"p{i}" for i in range(10)]
        for name in projects:
            if name not in {p.name for p in await core.journal.list_projects("default")}:
                await core.journal.create_project("default", "bench", name)
        versions: dict[str, int] = {}
        latencies: list[float] = []

        async def call(n: int, i: int) -> None:
            agent = f"w{n}"
            if operation == "set_project":
                info = await core.context.set(
                    "default",
                    agent,
                    projects[(n + i) % len(projects)],
                    expected_version=versions.get(agent),
                )
                versions[agent] = info.version
            else:
                await core.journal.append(
                    "default", agent, projects[n % len(projects)], [EntryInput(message=f"{i}")]
                )

        async def loop(n: int, stop: float) -> None:
            i = 0
            while time.perf_counter() < stop:
                sent = time.perf_counter()
                await call(n, i)
                latencies.append(time.perf_counter() - sent)
                i += 1

        await asyncio.gather(*(call(n, -1) for n in range(args.writers)))  # warm-up
        commits, writes = writer.commits, writer.committed_writes
        interference = Interference()
        interference.start()
        cpu = time.process_time()
        start = time.perf_counter()
        await asyncio.gather(*(loop(n, start + args.seconds) for n in range(args.writers)))
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
        commits, writes = writer.commits - commits, writer.committed_writes - writes
    return {
        "calls_per_s": rounded(len(latencies) / elapsed, 1),
        "latency_ms": latency_ms(latencies),
        # CPU of this process per call (one core at 100 % would allow 1000 / this calls/s).
        "cpu_ms_per_call": rounded(cpu * 1000 / len(latencies)),
        "commits": commits,
        "writes_per_commit": rounded(writes / commits, 2) if commits else 0.0,
        "interference": interference.report(),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    busy = wait_quiet(args.wait_quiet) if args.wait_quiet > 0 else None
    load_before = os.getloadavg()
    results: dict[str, Any] = {}
    for operation in args.operations.split(","):
        rounds: dict[str, list[dict[str, Any]]] = {"grouped": [], "one_per_commit": []}
        with temp_data_dir("group-commit", args.keep) as data_dir:
            for r in range(args.rounds):
                for mode in ("grouped", "one_per_commit"):
                    result = await run(data_dir, operation, mode == "grouped", args)
                    rounds[mode].append(result)
                    log(f"{operation} round {r + 1} {mode}: {result['calls_per_s']}/s")
        medians = {
            mode: {
                "calls_per_s": rounded(statistics.median(x["calls_per_s"] for x in runs), 1),
                "p50_ms": rounded(statistics.median(x["latency_ms"]["p50"] for x in runs)),
                "p99_ms": rounded(statistics.median(x["latency_ms"]["p99"] for x in runs)),
                "writes_per_commit": rounded(
                    statistics.median(x["writes_per_commit"] for x in runs), 2
                ),
                "cpu_ms_per_call": rounded(statistics.median(x["cpu_ms_per_call"] for x in runs)),
            }
            for mode, runs in rounds.items()
        }
        results[operation] = {
            **medians,
            "speedup": rounded(
                medians["grouped"]["calls_per_s"] / medians["one_per_commit"]["calls_per_s"], 2
            ),
            "rounds": rounds,
        }
    return {
        "benchmark": "group_commit",
        "backend": "sqlite",
        "synchronous": args.synchronous,
        "options": {"writers": args.writers, "seconds": args.seconds, "rounds": args.rounds},
        **results,
        "machine": machine_report(busy, load_before),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", type=int, default=100, help="concurrent writers (100)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each run (5)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument(
        "--operations", default="set_project,append", help="set_project, append, or both"
    )
    parser.add_argument("--synchronous", default="FULL", choices=("OFF", "NORMAL", "FULL", "EXTRA"))
    parser.add_argument("--keep", action="store_true", help="keep the temp data directory")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS")
    emit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
