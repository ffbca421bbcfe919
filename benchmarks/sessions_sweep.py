"""100,000 active sessions and the sweep that expires them (DESIGN target: sweep < 1 s).

Phases:

1. start (empty): `--sample` sessions through `core.sessions.start` (the service: limit checks,
   supersede, event), per-call latency while the table is nearly empty;
2. bulk: the rest of `--sessions` inserted with SQLAlchemy Core into `sessions`, with the same
   columns and values `start` writes (uuid7 ids, root_id = id, status active, metadata,
   created_at, lease_expires_at = created_at + TTL), spread over `--agents` agents;
3. start (full): `--sample` more service starts with all those sessions live, showing how the
   per-call limit checks scale with the table;
4. sweep, nothing due: `core.sessions.sweep()` at the real clock (every lease is live);
5. sweep, all due: `core.sessions.sweep(now=...)` with `now` just past the last lease, which is
   how the sweeper sees the world once the TTL has run out. Timed end to end: the UPDATE of
   every session and one `session.expired` event per session, in batches of 5,000.

Afterwards the benchmark checks that every session is `expired` and that there is exactly one
`session.expired` event per session. Prints one JSON object.

    python benchmarks/sessions_sweep.py [--sessions 100000] [--sample 500] [--agents 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from benchlib import (
    Interference,
    add_common_args,
    backend_of,
    emit,
    latency_ms,
    log,
    machine_info,
    rounded,
    scratch_database,
    temp_data_dir,
    wait_quiet,
)
from roundtable.config import Settings
from roundtable.events.log import EventTypes
from roundtable.ids import utcnow, uuid7
from roundtable.runtime import Roundtable
from roundtable.sessions.models import SessionStatus
from roundtable.store import tables

TARGET_SWEEP_S = 1.0
TARGET_START_FULL_P50_MS = 3.0  # issue 16: start_session with 100,000 live sessions
NAMESPACE = "default"
S = tables.sessions
EV = tables.events


def agent_name(i: int, agents: int) -> str:
    return f"agent-{i % agents:05d}"


async def start_sample(core: Roundtable, count: int, offset: int, agents: int) -> list[float]:
    latencies = []
    for i in range(offset, offset + count):
        t0 = time.perf_counter()
        await core.sessions.start(
            NAMESPACE, agent_name(i, agents), {"task": f"sample task {i}", "attempt": 1}
        )
        latencies.append(time.perf_counter() - t0)
    return latencies


async def bulk_insert(core: Roundtable, count: int, offset: int, agents: int, chunk: int) -> float:
    """Insert `count` live sessions with SQLAlchemy Core; returns the elapsed seconds."""
    ttl = timedelta(seconds=core.settings.session_ttl_seconds)
    started = time.perf_counter()
    done = 0
    while done < count:
        now = utcnow()
        rows = []
        for i in range(offset + done, offset + min(count, done + chunk)):
            session_id = uuid7()
            rows.append(
                {
                    "id": session_id,
                    "namespace": NAMESPACE,
                    "agent": agent_name(i, agents),
                    "parent_id": None,
                    "root_id": session_id,
                    "status": SessionStatus.ACTIVE.value,
                    "metadata": {"task": f"bulk task {i}", "attempt": 1},
                    "created_at": now,
                    "lease_expires_at": now + ttl,
                    "ended_at": None,
                    "superseded_by": None,
                }
            )
        async with core.db.write() as conn:
            await conn.execute(insert(S), rows)
        done += len(rows)
    return time.perf_counter() - started


async def counts(core: Roundtable) -> dict[str, int]:
    async with core.db.read() as conn:
        by_status = {
            status: int(n)
            for status, n in await conn.execute(
                select(S.c.status, func.count()).group_by(S.c.status)
            )
        }
        expired_events = await conn.scalar(
            select(func.count()).where(EV.c.type == EventTypes.SESSION_EXPIRED)
        )
    return {
        **{f"sessions_{k}": v for k, v in sorted(by_status.items())},
        "expired_events": int(expired_events or 0),
    }


async def benchmark(core: Roundtable, args: argparse.Namespace) -> dict[str, Any]:
    bulk_count = args.sessions - 2 * args.sample
    if bulk_count < 0:
        raise SystemExit("--sessions must be at least 2 x --sample")

    log(f"start (empty table): {args.sample} service calls")
    empty = await start_sample(core, args.sample, 0, args.agents)

    log(f"bulk insert of {bulk_count} sessions")
    bulk_s = await bulk_insert(core, bulk_count, args.sample, args.agents, args.chunk)
    log(f"bulk: {bulk_count / bulk_s:.0f} sessions/s")

    log(f"start (with {args.sample + bulk_count} live sessions): {args.sample} service calls")
    full = await start_sample(core, args.sample, args.sample + bulk_count, args.agents)

    async with core.db.read() as conn:
        live = await conn.scalar(
            select(func.count()).where(
                S.c.status == SessionStatus.ACTIVE.value, S.c.lease_expires_at > utcnow()
            )
        )
        last_lease = await conn.scalar(select(func.max(S.c.lease_expires_at)))
    assert last_lease is not None

    t0 = time.perf_counter()
    nothing = await core.sessions.sweep()
    idle_sweep_s = time.perf_counter() - t0

    log(f"sweep of {live} sessions")
    profiler = cProfile.Profile() if args.profile else None
    interference = Interference()
    interference.start()
    if profiler is not None:
        profiler.enable()
    t0 = time.perf_counter()
    expired = await core.sessions.sweep(now=last_lease + timedelta(seconds=1))
    sweep_s = time.perf_counter() - t0
    other = interference.report()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
        log(f"cProfile of the sweep written to {args.profile}")
    log(f"sweep: {expired} in {sweep_s:.3f}s")

    after = await counts(core)
    return {
        # Headline: the sweep of every session.
        "sweep_s": rounded(sweep_s),
        "sweep_sessions_per_s": rounded(expired / sweep_s, 1) if sweep_s else None,
        "sessions_live_before_sweep": live,
        "start_empty_table": {
            "latency_ms": latency_ms(empty),
            "per_s": rounded(len(empty) / sum(empty), 1),
        },
        "bulk_insert": {
            "sessions": bulk_count,
            "elapsed_s": rounded(bulk_s),
            "per_s": rounded(bulk_count / bulk_s, 1),
            "chunk": args.chunk,
        },
        "start_full_table": {
            "latency_ms": latency_ms(full),
            "per_s": rounded(len(full) / sum(full), 1),
        },
        "sweep_nothing_due": {"expired": nothing, "elapsed_ms": rounded(idle_sweep_s * 1000)},
        "sweep": {
            "expired": expired,
            "elapsed_s": rounded(sweep_s),
            "sessions_per_s": rounded(expired / sweep_s, 1) if sweep_s else None,
            "batch": 5_000,
            "interference": other,
        },
        "after": after,
        "checks": {
            "all_expired": after.get("sessions_expired", 0) == args.sessions,
            "one_event_each": after["expired_events"] == args.sessions,
        },
        "target": {"sweep_s_below": TARGET_SWEEP_S, "met": sweep_s < TARGET_SWEEP_S},
        "start_full_target": {
            "p50_ms_below": TARGET_START_FULL_P50_MS,
            "met": latency_ms(full)["p50"] < TARGET_START_FULL_P50_MS,
        },
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    backend = backend_of(args.database_url)
    busy = wait_quiet(args.wait_quiet) if args.wait_quiet > 0 else None
    async with scratch_database(args.database_url) as database_url:
        with temp_data_dir("sweep", args.keep) as data_dir:
            settings = Settings(
                data_dir=Path(data_dir),
                database_url=database_url,
                write_rate_per_second=1e9,
                write_burst=10**9,
                max_sessions_per_namespace=args.sessions * 2,
                max_sessions_per_agent=args.sessions,
                session_ttl_seconds=args.ttl,
            )
            async with Roundtable.open(settings, sweeper=False) as core:
                result = await benchmark(core, args)
    return {
        "benchmark": "sessions_sweep",
        "backend": backend,
        "options": {
            "sessions": args.sessions,
            "sample": args.sample,
            "agents": args.agents,
            "ttl_s": args.ttl,
        },
        **result,
        "machine": {**machine_info(), "busy_share_before": busy},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=100_000, help="total sessions (100,000)")
    parser.add_argument(
        "--sample", type=int, default=500, help="service starts before and after the bulk (500)"
    )
    parser.add_argument("--agents", type=int, default=10_000, help="distinct agents (10,000)")
    parser.add_argument("--chunk", type=int, default=5_000, help="bulk rows per transaction")
    parser.add_argument("--ttl", type=float, default=900.0, help="session TTL in seconds (900)")
    parser.add_argument("--profile", default=None, help="write a cProfile of the sweep")
    add_common_args(parser)
    emit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
