"""Batched journal append throughput through the service layer, against raw inserts of the same rows.

DESIGN targets: >= 5,000 entries/s (batched, hash chain included) and within 3x of raw SQLite
inserts of the same rows with the same durability.

Measured in one run:

- service: `Roundtable.open` + `core.journal.append(...)` with `--batch` entries per call
  (realistic messages and meta, inside a session so the lease is renewed as in real use):
  validation, the hash chain, the event row and the returned models are all included. The
  batches' `EntryInput` objects are built before the clock starts (the HTTP/MCP layer builds
  them from the request).
- raw: right after each service batch (interleaved, so both see the same background load), the
  rows that batch stored (entries and the Merkle tree nodes it completed), exactly as stored,
  inserted with the `sqlite3` module into a separate database with the same schema (made by
  Roundtable's migrations: indexes, foreign keys, FTS5 triggers), WAL, the same `synchronous`
  setting (default FULL), one transaction per batch. On PostgreSQL: asyncpg executemany into
  clones of `entries` and `merkle_nodes` (`LIKE ... INCLUDING ALL`).
- raw_bare (SQLite): likewise into a table with only the primary key and the (project_id, seq)
  unique constraint: what the secondary and full-text indexes cost.
- sqlalchemy_core (after the loop): the same rows inserted with SQLAlchemy Core
  (`insert(entries)` executemany) through Roundtable's own `Database` into a second project:
  the store layer alone, without the service's logic.

Rates are entries divided by the summed time of the timed batches. A breakdown measures, on the
same entries, the CPU time of each pure-Python step of an append. The chain is verified after
the service phase. Prints one JSON object.

    python benchmarks/append_throughput.py [--batch 500] [--batches 40] [--profile out.prof]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import sqlite3
import time
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import func, insert, select

from benchlib import (
    Interference,
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
    wait_quiet,
)
from roundtable.config import Settings
from roundtable.ids import utcnow
from roundtable.journal.hashing import canonical_entry, entry_hash
from roundtable.journal.models import AppendResult, EntryInput, Status
from roundtable.journal.rows import entry_from_row
from roundtable.runtime import Roundtable
from roundtable.store import migrate, tables
from roundtable.store.engine import Database
from roundtable.validation import check_message, check_meta, check_name

TARGET_RATE = 5_000.0
TARGET_RATIO = 3.0
NAMESPACE = "default"
AGENT = "bench-agent"
PROJECT = "bench-journal"

#: Columns copied from the service's rows to the raw inserts (everything but the rowid `id`).
COLUMNS = (
    "project_id",
    "seq",
    "ts",
    "agent",
    "session_id",
    "status",
    "kind",
    "message",
    "meta",
    "prev_hash",
    "hash",
    "leaf_hash",
)
#: The Merkle nodes a batch of seqs [?, ?] completed: node (level, idx) ends at leaf seq
#: (idx + 1) * 2**level. The raw inserts copy them too, so both sides write the same rows.
NODES_OF_BATCH = (
    "SELECT project_id, level, idx, hash FROM merkle_nodes "
    "WHERE project_id = {p} AND ((idx + 1) << level) BETWEEN {a} AND {b}"
)


def make_batches(count: int, size: int, start: int = 0) -> list[list[EntryInput]]:
    batches: list[list[EntryInput]] = []
    for b in range(count):
        batch: list[EntryInput] = []
        for i in range(start + b * size, start + (b + 1) * size):
            message, status, kind, meta = entry_payload(i)
            batch.append(EntryInput(message=message, status=Status(status), kind=kind, meta=meta))
        batches.append(batch)
    return batches


def settings_for(data_dir: Path, database_url: str | None, args: argparse.Namespace) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        write_rate_per_second=1e9,
        write_burst=10**9,
        max_batch_entries=max(1_000, args.batch),
        sqlite_synchronous=args.synchronous,
    )


def rate(entries: int, seconds: float) -> float:
    return rounded(entries / seconds, 1) if seconds > 0 else 0.0


# ---------------------------------------------------------------------------------------------
# Phase 1: the service


class Timed:
    """Per-batch durations of one kind of insert."""

    def __init__(self) -> None:
        self.per_batch: list[float] = []
        self.entries = 0

    def add(self, seconds: float, entries: int) -> None:
        self.per_batch.append(seconds)
        self.entries += entries

    def result(self) -> dict[str, Any]:
        busy = sum(self.per_batch)
        return {
            "entries": self.entries,
            "elapsed_s": rounded(busy),
            "entries_per_s": rate(self.entries, busy),
            "batch_latency_ms": latency_ms(self.per_batch),
        }


class RawSink(Protocol):
    """Receives each measured service batch (by seq range) and inserts its rows raw."""

    async def take(self, first_seq: int, last_seq: int) -> None: ...

    async def close(self) -> dict[str, Any]: ...


async def prepare(core: Roundtable, args: argparse.Namespace) -> tuple[str, int]:
    """Session, project and warm-up batches; returns the session id and the project id."""
    session = await core.sessions.start(NAMESPACE, AGENT, {"benchmark": "append_throughput"})
    await core.journal.create_project(NAMESPACE, AGENT, PROJECT, "append throughput benchmark")
    for batch in make_batches(args.warmup, args.batch, start=0):
        await core.journal.append(NAMESPACE, AGENT, PROJECT, batch, session_id=session.id)
    async with core.db.read() as conn:
        project_id = await conn.scalar(
            select(tables.projects.c.id).where(
                tables.projects.c.namespace == NAMESPACE, tables.projects.c.name == PROJECT
            )
        )
    assert project_id is not None
    return session.id, int(project_id)


async def service_phase(
    core: Roundtable, args: argparse.Namespace, session_id: str, raw: RawSink
) -> tuple[dict[str, Any], list[list[EntryInput]]]:
    batches = make_batches(args.batches, args.batch, start=args.warmup * args.batch)
    profiler = cProfile.Profile() if args.profile else None
    timed = Timed()
    interference = Interference()
    interference.start()
    for batch in batches:
        if profiler is not None:
            profiler.enable()
        t0 = time.perf_counter()
        result = await core.journal.append(NAMESPACE, AGENT, PROJECT, batch, session_id=session_id)
        timed.add(time.perf_counter() - t0, len(batch))
        if profiler is not None:
            profiler.disable()
        await raw.take(result.first_seq, result.last_seq)
    other = interference.report()
    if profiler is not None:
        profiler.dump_stats(args.profile)
        log(f"cProfile of the service phase written to {args.profile}")
    report = await core.journal.verify(NAMESPACE, PROJECT)
    return {
        **timed.result(),
        "chain_verified": report.ok,
        "chain_checked": report.checked,
        "interference": other,
    }, batches


async def stored_rows(db: Database, project: str) -> list[dict[str, Any]]:
    """The measured entries exactly as the service stored them (Python values), in seq order."""
    E, P = tables.entries, tables.projects
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(*(E.c[name] for name in COLUMNS))
                .select_from(E.join(P, E.c.project_id == P.c.id))
                .where(P.c.name == project)
                .order_by(E.c.seq)
            )
        ).mappings()
        return [dict(row) for row in rows]


# ---------------------------------------------------------------------------------------------
# Phase 2: SQLAlchemy Core through Roundtable's Database


async def sqlalchemy_phase(
    core: Roundtable, rows: list[dict[str, Any]], batch: int
) -> dict[str, Any]:
    info = await core.journal.create_project(NAMESPACE, AGENT, "bench-sqlalchemy")
    async with core.db.read() as conn:
        project_id = await conn.scalar(
            select(tables.projects.c.id).where(
                tables.projects.c.namespace == NAMESPACE, tables.projects.c.name == info.name
            )
        )
    moved = [{**row, "project_id": project_id} for row in rows]
    timed = Timed()
    interference = Interference()
    interference.start()
    for i in range(0, len(moved), batch):
        chunk = moved[i : i + batch]
        t0 = time.perf_counter()
        async with core.db.write() as conn:
            await conn.execute(insert(tables.entries), chunk)
        timed.add(time.perf_counter() - t0, len(chunk))
    return {**timed.result(), "interference": interference.report()}


# ---------------------------------------------------------------------------------------------
# Phase 3/4: raw SQLite


BARE_TABLE = (
    "CREATE TABLE entries_bare (id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL, "
    "seq INTEGER NOT NULL, ts DATETIME NOT NULL, agent VARCHAR(128) NOT NULL, "
    "session_id VARCHAR(36), status VARCHAR(16) NOT NULL, kind VARCHAR(64) NOT NULL, "
    "message TEXT NOT NULL, meta JSON NOT NULL, prev_hash VARCHAR(64) NOT NULL, "
    "hash VARCHAR(64) NOT NULL, leaf_hash VARCHAR(64) NOT NULL, UNIQUE (project_id, seq))"
)


class RawSqlite:
    """Copies each service batch, exactly as SQLite stored it (text timestamps, JSON text), into
    a separate database with Roundtable's schema (`entries`) and into `entries_bare`."""

    def __init__(self, service_db: Path, raw_db: Path, project_id: int, synchronous: str):
        self.project_id = project_id
        self.source = sqlite3.connect(service_db)
        self.conn = sqlite3.connect(raw_db, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute(f"PRAGMA synchronous = {synchronous}")
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.select = (
            f"SELECT {', '.join(COLUMNS)} FROM entries "
            "WHERE project_id = ? AND seq BETWEEN ? AND ? ORDER BY seq"
        )
        placeholders = ", ".join("?" for _ in COLUMNS)
        self.inserts = {
            table: f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({placeholders})"
            for table in ("entries", "entries_bare")
        }
        self.timed = {table: Timed() for table in self.inserts}

    @classmethod
    async def create(
        cls, service_db: Path, raw_db: Path, project_id: int, synchronous: str
    ) -> RawSqlite:
        db = Database(f"sqlite+aiosqlite:///{raw_db}", synchronous=synchronous)
        try:
            await migrate.upgrade(db)  # exactly Roundtable's schema
        finally:
            await db.close()
        setup = sqlite3.connect(raw_db, isolation_level=None)
        try:
            now = "2026-01-05 12:00:00.000000"
            setup.execute(
                "INSERT INTO namespaces (name, created_at) VALUES (?, ?)", (NAMESPACE, now)
            )
            setup.execute(
                "INSERT INTO projects (id, namespace, name, description, created_at, created_by, "
                "head_seq, head_hash) VALUES (?, ?, ?, '', ?, ?, 0, ?)",
                (project_id, NAMESPACE, PROJECT, now, AGENT, "0" * 64),
            )
            setup.execute(BARE_TABLE)
        finally:
            setup.close()
        return cls(service_db, raw_db, project_id, synchronous)

    async def take(self, first_seq: int, last_seq: int) -> None:
        rows = self.source.execute(self.select, (self.project_id, first_seq, last_seq)).fetchall()
        nodes = self.source.execute(
            NODES_OF_BATCH.format(p="?", a="?", b="?"), (self.project_id, first_seq, last_seq)
        ).fetchall()
        for table, sql in self.inserts.items():
            t0 = time.perf_counter()
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany(sql, rows)
            if table == "entries" and nodes:
                self.conn.executemany("INSERT INTO merkle_nodes VALUES (?, ?, ?, ?)", nodes)
            self.conn.execute("COMMIT")
            self.timed[table].add(time.perf_counter() - t0, len(rows))

    async def close(self) -> dict[str, Any]:
        self.source.close()
        self.conn.close()
        return {
            "raw": {
                "driver": "sqlite3, same schema (indexes, FKs, FTS5 triggers)",
                **self.timed["entries"].result(),
            },
            "raw_bare": {
                "driver": "sqlite3, PK + unique(project_id, seq) only",
                **self.timed["entries_bare"].result(),
            },
        }


# ---------------------------------------------------------------------------------------------
# Phase 3 on PostgreSQL: raw asyncpg


class RawPostgres:
    """Copies each service batch with asyncpg into `entries_raw (LIKE entries INCLUDING ALL)`."""

    def __init__(self, conn: Any, project_id: int) -> None:
        self.conn = conn
        self.project_id = project_id
        self.timed = Timed()
        params = ", ".join(
            f"${n}::jsonb" if c == "meta" else f"${n}" for n, c in enumerate(COLUMNS, 1)
        )
        self.insert = f"INSERT INTO entries_raw ({', '.join(COLUMNS)}) VALUES ({params})"
        self.select = (
            f"SELECT {', '.join(COLUMNS)} FROM entries "
            "WHERE project_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq"
        )

    @classmethod
    async def create(cls, database_url: str, project_id: int) -> RawPostgres:
        import asyncpg  # type: ignore[import-untyped]
        from sqlalchemy.engine import make_url

        url = make_url(database_url)
        conn = await asyncpg.connect(
            user=url.username,
            password=url.password,
            host=url.host or "127.0.0.1",
            port=url.port or 5432,
            database=url.database,
        )
        await conn.execute("CREATE TABLE entries_raw (LIKE entries INCLUDING ALL)")
        await conn.execute("CREATE TABLE merkle_nodes_raw (LIKE merkle_nodes INCLUDING ALL)")
        return cls(conn, project_id)

    async def take(self, first_seq: int, last_seq: int) -> None:
        rows = await self.conn.fetch(self.select, self.project_id, first_seq, last_seq)
        values = [tuple(row) for row in rows]
        nodes = await self.conn.fetch(
            NODES_OF_BATCH.format(p="$1", a="$2", b="$3"), self.project_id, first_seq, last_seq
        )
        t0 = time.perf_counter()
        async with self.conn.transaction():
            await self.conn.executemany(self.insert, values)
            if nodes:
                await self.conn.executemany(
                    "INSERT INTO merkle_nodes_raw VALUES ($1, $2, $3, $4)",
                    [tuple(n) for n in nodes],
                )
        self.timed.add(time.perf_counter() - t0, len(values))

    async def close(self) -> dict[str, Any]:
        await self.conn.close()
        return {
            "raw": {
                "driver": "asyncpg executemany into LIKE entries INCLUDING ALL",
                **self.timed.result(),
            }
        }


# ---------------------------------------------------------------------------------------------
# Breakdown of the pure-Python steps of an append


def breakdown(batches: list[list[EntryInput]], rows: list[dict[str, Any]]) -> dict[str, float]:
    """CPU microseconds per entry of each pure-Python step `JournalService.append` performs."""
    items = [item for batch in batches for item in batch]
    n = len(items)
    t0 = time.perf_counter()
    for item in items:
        check_message(item.message, 16_384)
        check_name("kind", item.kind)
        check_meta(item.meta, 16_384)
    validate = time.perf_counter() - t0

    now = utcnow()
    prev = "0" * 64
    t0 = time.perf_counter()
    for seq, item in enumerate(items, 1):
        digest = entry_hash(
            canonical_entry(
                namespace=NAMESPACE,
                project=PROJECT,
                seq=seq,
                ts=now,
                agent=AGENT,
                session_id=None,
                status=item.status.value,
                kind=item.kind,
                message=item.message,
                meta=item.meta,
                prev_hash=prev,
            )
        )
        prev = digest
    hashing = time.perf_counter() - t0

    t0 = time.perf_counter()
    batch = len(batches[0]) if batches else 1
    for i in range(0, len(rows), batch):
        chunk = rows[i : i + batch]
        entries = [
            entry_from_row({**row, "namespace": NAMESPACE, "project": PROJECT}) for row in chunk
        ]
        AppendResult(
            project=PROJECT,
            first_seq=entries[0].seq,
            last_seq=entries[-1].seq,
            head_hash=entries[-1].hash,
            entries=entries,
        )
    models = time.perf_counter() - t0
    per = 1e6 / n if n else 0.0
    return {
        "validate_us": rounded(validate * per, 2),
        "canonicalise_and_hash_us": rounded(hashing * per, 2),
        "result_models_us": rounded(models * per, 2),
    }


# ---------------------------------------------------------------------------------------------


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    backend = backend_of(args.database_url)
    busy = wait_quiet(args.wait_quiet) if args.wait_quiet > 0 else None
    async with scratch_database(args.database_url) as database_url:
        with temp_data_dir("append", args.keep) as data_dir:
            settings = settings_for(data_dir, database_url, args)
            async with Roundtable.open(settings, sweeper=False) as core:
                session_id, project_id = await prepare(core, args)
                sink: RawSink
                if backend == "sqlite":
                    sink = await RawSqlite.create(
                        data_dir / "roundtable.db",
                        data_dir / "raw.db",
                        project_id,
                        args.synchronous,
                    )
                else:
                    assert database_url is not None
                    sink = await RawPostgres.create(database_url, project_id)
                log(f"service + raw: {args.batches} x {args.batch} entries ({backend})")
                service, batches = await service_phase(core, args, session_id, sink)
                raw = await sink.close()
                log(
                    f"service: {service['entries_per_s']} entries/s, "
                    f"raw: {raw['raw']['entries_per_s']} entries/s"
                )
                rows = (await stored_rows(core.db, PROJECT))[args.warmup * args.batch :]
                store = await sqlalchemy_phase(core, rows, args.batch)
                log(f"sqlalchemy core: {store['entries_per_s']} entries/s")
                async with core.db.read() as conn:
                    total_rows = await conn.scalar(select(func.count()).select_from(tables.entries))
    parts = breakdown(batches, rows)
    service_rate = float(service["entries_per_s"])
    raw_rate = float(raw["raw"]["entries_per_s"])
    ratio = raw_rate / service_rate if service_rate else float("inf")
    return {
        "benchmark": "append_throughput",
        "backend": backend,
        "options": {
            "batch": args.batch,
            "batches": args.batches,
            "warmup_batches": args.warmup,
            "synchronous": args.synchronous if backend == "sqlite" else None,
        },
        # Headline: service and raw throughput, their ratio (also under `target`).
        "entries_per_s": service_rate,
        "raw_entries_per_s": raw_rate,
        "service": service,
        "sqlalchemy_core": store,
        **raw,
        "raw_over_service": rounded(ratio, 2),
        "python_cpu_per_entry": parts,
        "rows_in_entries_table": total_rows,
        "target": {
            "entries_per_s_at_least": TARGET_RATE,
            "raw_over_service_at_most": TARGET_RATIO,
            "rate_met": service_rate >= TARGET_RATE,
            "ratio_met": ratio <= TARGET_RATIO,
        },
        "machine": {**machine_info(), "busy_share_before": busy},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=500, help="entries per append call (500)")
    parser.add_argument("--batches", type=int, default=40, help="measured batches (40)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured batches first (2)")
    parser.add_argument(
        "--synchronous",
        choices=("OFF", "NORMAL", "FULL", "EXTRA"),
        default="FULL",
        help="SQLite synchronous for both the service and the raw inserts (FULL, the default)",
    )
    parser.add_argument("--profile", default=None, help="write a cProfile of the service phase")
    add_common_args(parser)
    emit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
