"""Server time per dashboard page with 10,000 sessions and 1,000,000 journal entries.

The pages are requested in-process through the ASGI app (httpx's ASGITransport), so the figure
is the server's own time: routing, the service calls, the database and template rendering, no
network. Sessions are 2,000 trees of five (a root and four children) written straight into the
tables; entries are appended through the journal service in batches (as `verify.py` does), with
checkpoints signed as in production. Prints JSON: p50/p99 per page. Target: every page under
100 ms.

    python benchmarks/dashboard.py [--entries 1000000] [--sessions 10000] [--samples 20]
        [--keep | --reuse DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, select

from benchlib import (
    add_common_args,
    backend_of,
    emit,
    entry_payload,
    latency_ms,
    log,
    machine_info,
    rounded,
    scratch_database,
    temp_data_dir,
)
from roundtable.api.app import create_app
from roundtable.config import Settings
from roundtable.ids import utcnow, uuid7
from roundtable.journal import checkpoints
from roundtable.journal.models import EntryInput, Status
from roundtable.runtime import Roundtable
from roundtable.store import tables

NS, PROJECT, BATCH, FANOUT = "default", "big", 1_000, 4


async def build_sessions(core: Roundtable, count: int) -> str:
    """`count` sessions as trees of 1 + FANOUT; returns one root id (for the detail page)."""
    now = utcnow()
    rows: list[dict[str, Any]] = []
    first_root = ""
    agents = [f"agent-{i}" for i in range(50)]
    async with core.db.write() as conn:
        await conn.execute(
            insert(tables.agents),
            [
                {"namespace": NS, "name": a, "first_seen": now, "last_seen": now, "blueprint": None}
                for a in agents
            ],
        )
    for i in range(0, count, 1 + FANOUT):
        root = uuid7()
        first_root = first_root or root
        base = {
            "namespace": NS,
            "metadata": {},
            "created_at": now - timedelta(seconds=count - i),
            "lease_expires_at": now + timedelta(minutes=5),
            "status": ("active", "finished", "failed", "stopped", "expired")[i % 5],
            "project": PROJECT,
        }
        rows.append({**base, "id": root, "agent": agents[i % 50], "root_id": root, "depth": 0})
        for _ in range(FANOUT):
            child = uuid7()
            rows.append(
                {
                    **base,
                    "id": child,
                    "agent": agents[(i + 1) % 50],
                    "parent_id": root,
                    "root_id": root,
                    "depth": 1,
                }
            )
        if len(rows) >= 2_000:
            await _insert_sessions(core, rows)
            rows = []
    if rows:
        await _insert_sessions(core, rows)
    return first_root


async def _insert_sessions(core: Roundtable, rows: list[dict[str, Any]]) -> None:
    columns = {"parent_id": None, "ended_at": None, "superseded_by": None}
    async with core.db.write() as conn:
        await conn.execute(insert(tables.sessions), [{**columns, **r} for r in rows])


async def build_entries(core: Roundtable, count: int) -> None:
    await core.journal.create_project(NS, "bench", PROJECT)
    appended = 0
    while appended < count:
        n = min(BATCH, count - appended)
        items = []
        for i in range(appended, appended + n):
            message, status, kind, meta = entry_payload(i)
            items.append(EntryInput(message=message, status=Status(status), kind=kind, meta=meta))
        await core.journal.append(NS, "bench", PROJECT, items)
        appended += n
        if appended % 100_000 == 0:
            log(f"appended {appended:,} entries")
    await checkpoints.sign_now(core.db, core.signer, core.settings, NS, PROJECT)


@contextlib.contextmanager
def reused_or_temp(args: argparse.Namespace) -> Iterator[Path]:
    """`--reuse DIR`: a data directory a `--keep` run left (SQLite), timed without rebuilding."""
    if args.reuse is None:
        with temp_data_dir("dashboard", args.keep) as data_dir:
            yield data_dir
    else:
        yield Path(args.reuse)


async def first_root(core: Roundtable) -> str:
    async with core.db.read() as conn:
        found = await conn.execute(
            select(tables.sessions.c.id).where(tables.sessions.c.depth == 0).limit(1)
        )
        return str(found.scalar_one())


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    async with scratch_database(args.database_url) as database_url:
        with reused_or_temp(args) as data_dir:
            settings = Settings(
                data_dir=data_dir,
                database_url=database_url,
                write_rate_per_second=1e9,
                write_burst=10**9,
                rotate_max_entries=0,
                rotate_max_bytes=0,
            )
            app = create_app(settings, sweeper=False)
            async with Roundtable.open(settings, sweeper=False) as core:
                started = time.perf_counter()
                if args.reuse is None:
                    await build_entries(core, args.entries)  # creates the namespace too
                    root = await build_sessions(core, args.sessions)
                else:
                    root = await first_root(core)
                    log(f"reusing {args.reuse}")
                build_s = time.perf_counter() - started
                log(f"built in {build_s:.1f}s; timing pages")
                app.state.core = core
                token = (data_dir / "admin.token").read_text().strip()
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://127.0.0.1", cookies={}
                ) as client:
                    login = await client.post("/login", data={"token": token})
                    assert login.status_code == 303, login.text
                    mid = args.entries // 2
                    pages = {
                        "overview": "/",
                        "sessions": "/sessions",
                        "sessions_filtered": "/sessions?agent=agent-7&status=finished",
                        "session_detail": f"/sessions/{root}",
                        "delete_preview": f"/sessions/{root}/delete",
                        "journals": "/journals",
                        "journal_newest": f"/journals/{PROJECT}",
                        "journal_by_agent_kind": f"/journals/{PROJECT}?agent=bench&kind=decision",
                        "journal_text": f"/journals/{PROJECT}?text=step+{mid}",
                        # a word in every entry, and two words in 1 of 42
                        "journal_text_common": f"/journals/{PROJECT}?text=step",
                        "journal_text_two_words": f"/journals/{PROJECT}?text=refactored+parser",
                        "entry_with_proof": f"/journals/{PROJECT}/entries/{mid}",
                        "documents": "/documents",
                        "blueprints": "/blueprints",
                        "schemas": "/schemas",
                        "runners": "/runners",
                    }
                    results: dict[str, Any] = {}
                    for name, path in pages.items():
                        samples = []
                        for _ in range(args.samples):
                            t0 = time.perf_counter()
                            response = await client.get(path)
                            samples.append(time.perf_counter() - t0)
                            assert response.status_code == 200, (path, response.text[:300])
                        results[name] = latency_ms(samples)
                        log(f"{name}: p50 {results[name]['p50']} ms")
    slowest = max(r["p50"] for r in results.values())
    return {
        "benchmark": "dashboard",
        "backend": backend_of(args.database_url),
        "sessions": args.sessions,
        "entries": args.entries,
        "samples_per_page": args.samples,
        "build_s": rounded(build_s, 1),
        "pages_ms": results,
        "slowest_p50_ms": slowest,
        "target_ms": 100,
        "machine": machine_info(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument(
        "--reuse",
        metavar="DIR",
        help="time the pages on the data directory a --keep run left, without rebuilding it",
    )
    add_common_args(parser)
    emit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
