"""SSE fan-out: many readers of `/api/v1/events/stream` on a real `roundtable serve` (issue 16).

Starts `--instances` `roundtable serve` subprocesses (SQLite by default: one instance; on
PostgreSQL, `--backend postgresql` uses a throwaway server like the test suite's unless
`--database-url` is given, and may run two instances, readers split evenly). Connects
`--subscribers` SSE readers over real HTTP connections, spread over `--client-processes` reader
processes (light raw-socket clients: the point is to measure the server, so one client process
must not be the bottleneck), then appends journal entries over HTTP at a steady, open-loop
offered rate. Every event's latency runs from its timestamp (the event's `ts`, taken when its
write starts, before it waits for the write lock) to its receipt by each reader. SQLite runs
with `synchronous=NORMAL` by default (`--synchronous FULL` to include each write's fsync).

A phase has no loss when every reader received every event of the phase exactly once, in id
order, and no reader was dropped. Prints one JSON object: per phase the offered and achieved
rate, delivery latency p50/p99, lost deliveries, server CPU (seconds and share of one core),
the readers' CPU, and how busy the machine was with other work.

    python benchmarks/events_delivery.py [--subscribers 1000] [--rates 100] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import re
import resource
import sys
import time
from collections.abc import AsyncIterator
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

from benchlib import (
    Interference,
    Server,
    emit,
    latency_ms,
    log,
    machine_info,
    process_cpu_seconds,
    rounded,
    scratch_database,
    serve,
    temp_data_dir,
    wait_quiet,
)

STREAM = "/api/v1/events/stream"
REPO = Path(__file__).resolve().parent.parent

# -- reader processes ---------------------------------------------------------------------------

#: One event frame as the server writes it: id, type, then the JSON whose first fields are id, ts.
_FRAME = re.compile(rb'id: (\d+)\nevent: ([a-z_.]+)\ndata: \{"(?:id":\d+,"ts":"([^"]+)")?')


class Reader:
    """One SSE connection (chunked HTTP/1.1); frames are parsed with one regex per chunk, and
    each event's timestamp is parsed once per process, however many readers receive it."""

    def __init__(self, url: str, token: str, stamps: dict[int, float]) -> None:
        self.url, self.token, self.stamps = url, token, stamps
        self.ids: list[int] = []
        self.latencies: list[float] = []
        self.dropped = False
        self.error: str | None = None
        self.ready = asyncio.Event()

    async def run(self, after: int) -> None:
        host, port = self.url.removeprefix("http://").split(":")
        try:
            reader, writer = await asyncio.open_connection(host, int(port), limit=1 << 20)
        except OSError as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            self.ready.set()
            return
        try:
            writer.write(
                f"GET {STREAM} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Authorization: Bearer {self.token}\r\nAccept: text/event-stream\r\n"
                f"Last-Event-ID: {after}\r\n\r\n".encode()
            )
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head.decode(errors="replace")[:200])
            while True:
                size = int((await reader.readline()).split(b";")[0], 16)
                if size == 0:
                    return
                chunk = await reader.readexactly(size + 2)
                self._chunk(chunk, time.time())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # reported in the result, not swallowed
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.ready.set()
            writer.close()

    def _chunk(self, chunk: bytes, now: float) -> None:
        if b": subscribed" in chunk:
            self.ready.set()
        for match in _FRAME.finditer(chunk):
            kind = match.group(2)
            if kind == b"dropped":
                self.dropped = True
                continue
            if kind == b"resync":
                continue
            event_id = int(match.group(1))
            stamp = self.stamps.get(event_id)
            if stamp is None:
                stamp = self.stamps[event_id] = datetime.fromisoformat(
                    match.group(3).decode()
                ).timestamp()
            self.ids.append(event_id)
            self.latencies.append(now - stamp)


async def reader_process_main(
    pipe: Connection, urls: list[str], token: str, count: int, first: int, after: int
) -> None:
    """Open `count` readers, then answer the coordinator's commands over `pipe`."""
    stamps: dict[int, float] = {}
    readers = [Reader(urls[(first + i) % len(urls)], token, stamps) for i in range(count)]
    tasks: list[asyncio.Task[None]] = []
    for start in range(0, count, 50):
        batch = readers[start : start + 50]
        tasks += [asyncio.create_task(r.run(after)) for r in batch]
        await asyncio.wait_for(asyncio.gather(*(r.ready.wait() for r in batch)), 120)
    loop = asyncio.get_running_loop()
    pipe.send({"ready": True, "errors": sorted({r.error for r in readers if r.error})[:3]})
    while True:
        command, argument = await loop.run_in_executor(None, pipe.recv)
        if command == "reset":
            for r in readers:
                r.ids, r.latencies = [], []
            stamps.clear()
            pipe.send(time.process_time())
        elif command == "caught_up":
            pipe.send(
                sum(1 for r in readers if r.error or r.dropped or (r.ids and r.ids[-1] >= argument))
            )
        elif command == "report":
            expected: list[int] = argument
            wanted = set(expected)
            pipe.send(
                {
                    "complete": sum(1 for r in readers if r.ids == expected),
                    "lost": sum(len(wanted - set(r.ids)) for r in readers),
                    "duplicates_or_disorder": sum(
                        1 for r in readers if r.ids != sorted(set(r.ids))
                    ),
                    "dropped": sum(1 for r in readers if r.dropped),
                    "failed": sum(1 for r in readers if r.error),
                    "errors": sorted({r.error for r in readers if r.error})[:3],
                    "latencies": [x for r in readers for x in r.latencies],
                    "cpu_s": time.process_time(),
                }
            )
        else:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            pipe.send(None)
            return


def reader_process(
    pipe: Connection, urls: list[str], token: str, count: int, first: int, after: int
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, count + 256)), hard))
    asyncio.run(reader_process_main(pipe, urls, token, count, first, after))


class Readers:
    """The reader processes, driven from the coordinator."""

    def __init__(self, servers: list[Server], count: int, processes: int, after: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        urls = [s.url for s in servers]
        self.pipes: list[Connection] = []
        self.procs = []
        share, extra = divmod(count, processes)
        first = 0
        for i in range(processes):
            n = share + (1 if i < extra else 0)
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(
                target=reader_process,
                args=(theirs, urls, servers[0].admin_token, n, first, after),
                daemon=True,
            )
            proc.start()
            self.pipes.append(ours)
            self.procs.append(proc)
            first += n

    def ask(self, command: str, argument: Any = None) -> list[Any]:
        for pipe in self.pipes:
            pipe.send((command, argument))
        return [pipe.recv() for pipe in self.pipes]

    def wait_ready(self) -> list[str]:
        answers = [pipe.recv() for pipe in self.pipes]
        return [e for a in answers for e in a["errors"]]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ask("stop")
        for proc in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()


# -- writers and phases -------------------------------------------------------------------------


async def ids_after(server: Server, after: int = 0) -> list[int]:
    """Ids of every event after `after`, from the table (through the paged read)."""
    ids: list[int] = []
    async with httpx.AsyncClient(headers=server.headers, timeout=60) as client:
        while True:
            r = await client.get(
                f"{server.url}/api/v1/events", params={"after": after, "limit": 1000}
            )
            r.raise_for_status()
            ids += [event["id"] for event in r.json()["events"]]
            if r.json()["next_after"] == after:
                return ids
            after = r.json()["next_after"]


async def latest(server: Server, after: int = 0) -> int:
    ids = await ids_after(server, after)
    return ids[-1] if ids else after


async def write_phase(
    servers: list[Server], rate: float, seconds: float, writers: int
) -> tuple[int, float]:
    """Append at `rate` per second in total, open loop: each append is sent at its scheduled
    time whether or not earlier ones have answered (at most `writers` in flight per instance),
    alternating instances. Returns (events written, achieved rate)."""
    count = int(rate * seconds)
    interval = 1.0 / rate
    written = 0
    clients = [
        httpx.AsyncClient(
            headers=server.headers,
            timeout=120,
            limits=httpx.Limits(max_connections=writers, max_keepalive_connections=writers),
        )
        for server in servers
    ]

    async def append(i: int) -> None:
        nonlocal written
        server, client = servers[i % len(servers)], clients[i % len(servers)]
        body = {"agent": f"bench-writer-{i % writers}", "message": f"event {i}"}
        r = await client.post(f"{server.api()}/projects/bench/entries", json=body)
        r.raise_for_status()
        written += 1

    started = time.perf_counter()
    tasks = []
    try:
        for i in range(count):
            delay = started + i * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(append(i)))
        await asyncio.gather(*tasks)
    finally:
        for client in clients:
            await client.aclose()
    return written, written / (time.perf_counter() - started)


async def run_phase(
    servers: list[Server], readers: Readers, rate: float, args: argparse.Namespace
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    client_cpu = sum(await loop.run_in_executor(None, readers.ask, "reset"))
    first = await latest(servers[0])
    server_cpu = [process_cpu_seconds(s.pid) for s in servers]
    interference = Interference(
        pids=[*(s.pid for s in servers), *(p.pid or 0 for p in readers.procs)]
    )
    interference.start()
    written, achieved = await write_phase(servers, rate, args.seconds, args.writers)
    expected = await ids_after(servers[0], first)
    last = expected[-1] if expected else first
    deadline = time.monotonic() + args.drain_seconds
    while time.monotonic() < deadline:
        done = sum(await loop.run_in_executor(None, readers.ask, "caught_up", last))
        if done >= args.subscribers:
            break
        await asyncio.sleep(0.2)
    drained_s = args.drain_seconds - max(0.0, deadline - time.monotonic())
    other = interference.report()
    server_cpu_s = sum(process_cpu_seconds(s.pid) for s in servers) - sum(server_cpu)
    reports = await loop.run_in_executor(None, readers.ask, "report", expected)
    samples = [x for r in reports for x in r["latencies"]]
    complete = sum(r["complete"] for r in reports)
    result = {
        "offered_rate": rate,
        "achieved_write_rate": rounded(achieved, 1),
        "events": written,
        "events_in_table": len(expected),  # the appends, plus any event other features wrote
        "subscribers_complete": complete,
        "subscribers_dropped": sum(r["dropped"] for r in reports),
        "subscribers_failed": sum(r["failed"] for r in reports),
        "lost_deliveries": sum(r["lost"] for r in reports),
        "duplicates_or_disorder": sum(r["duplicates_or_disorder"] for r in reports),
        "deliveries": len(samples),
        "deliveries_per_s": rounded(len(samples) / max(other["wall_s"], 1e-9), 1),
        "no_loss": complete == args.subscribers,
        "drain_after_writes_s": rounded(drained_s, 2),
        "latency_commit_to_receipt_ms": latency_ms(samples),
        "server_cpu_s": rounded(server_cpu_s, 2),
        "server_cpu_share_of_one_core": rounded(server_cpu_s / max(other["wall_s"], 1e-9), 3),
        "readers_cpu_s": rounded(sum(r["cpu_s"] for r in reports) - client_cpu, 2),
        "interference": other,
    }
    errors = sorted({e for r in reports for e in r["errors"]})
    if errors:
        result["errors"] = errors[:5]
    return result


async def measure(servers: list[Server], args: argparse.Namespace) -> dict[str, Any]:
    async with httpx.AsyncClient(headers=servers[0].headers, timeout=60) as client:
        r = await client.put(
            f"{servers[0].api()}/agents/bench-writer-0/context",
            json={"project": "bench", "create": True},
        )
        r.raise_for_status()
    start = await latest(servers[0])
    log(
        f"connecting {args.subscribers} readers to {len(servers)} instance(s) from "
        f"{args.client_processes} processes"
    )
    t0 = time.perf_counter()
    readers = Readers(servers, args.subscribers, args.client_processes, start)
    loop = asyncio.get_running_loop()
    phases = []
    try:
        errors = await loop.run_in_executor(None, readers.wait_ready)
        if errors:
            raise RuntimeError(f"readers failed to connect: {errors}")
        connect_s = time.perf_counter() - t0
        if args.wait_quiet:
            wait_quiet(args.wait_quiet)
        for rate in args.rates:
            log(f"phase: {rate:g} events/s for {args.seconds:g}s")
            phase = await run_phase(servers, readers, rate, args)
            log(
                f"  no_loss={phase['no_loss']} lost={phase['lost_deliveries']} "
                f"p50={phase['latency_commit_to_receipt_ms'].get('p50')} "
                f"p99={phase['latency_commit_to_receipt_ms'].get('p99')} ms "
                f"server_cpu={phase['server_cpu_share_of_one_core']}"
            )
            phases.append(phase)
            if not phase["no_loss"] or phase["subscribers_failed"]:
                break
    finally:
        await loop.run_in_executor(None, readers.close)
    sustained = [p for p in phases if p["no_loss"]]
    best = max(sustained, key=lambda p: p["achieved_write_rate"]) if sustained else None
    return {
        "subscribers": args.subscribers,
        "instances": len(servers),
        "client_processes": args.client_processes,
        "connect_all_s": rounded(connect_s, 2),
        "phases": phases,
        "sustained_events_per_s_no_loss": best["achieved_write_rate"] if best else 0,
        "sustained_deliveries_per_s": best["deliveries_per_s"] if best else 0,
        "latency_at_sustained_ms": best["latency_commit_to_receipt_ms"] if best else None,
    }


@contextlib.asynccontextmanager
async def database(args: argparse.Namespace) -> AsyncIterator[tuple[str | None, str]]:
    """None (SQLite in the data directory), the given server's scratch database, or a
    throwaway PostgreSQL like the tests use."""
    if args.backend == "sqlite":
        yield None, "sqlite"
        return
    if args.database_url is not None:
        async with scratch_database(args.database_url) as url:
            yield url, "postgresql (given)"
        return
    sys.path.insert(0, str(REPO))
    from tests import pg  # the test suite's throwaway server (fsync off)

    server = pg.start()
    try:
        async with scratch_database(server.url("postgres")) as url:
            yield url, "postgresql (throwaway: initdb, fsync=off, synchronous_commit=off)"
    finally:
        server.stop()


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    async with database(args) as (url, kind):
        with temp_data_dir("events", keep=args.keep) as data_dir:
            env = {
                "ROUNDTABLE_DATA_DIR": str(data_dir),
                "ROUNDTABLE_WRITE_RATE_PER_SECOND": "1000000",
                "ROUNDTABLE_WRITE_BURST": "1000000",
                "ROUNDTABLE_EVENT_QUEUE_SIZE": str(args.queue_size),
                "ROUNDTABLE_SQLITE_SYNCHRONOUS": args.synchronous,
            }
            if args.fanout_window is not None:
                env["ROUNDTABLE_EVENT_FANOUT_WINDOW_SECONDS"] = str(args.fanout_window)
            if url is not None:
                env["ROUNDTABLE_DATABASE_URL"] = url
            with contextlib.ExitStack() as stack:
                servers = [stack.enter_context(serve(env)) for _ in range(args.instances)]
                result = await measure(servers, args)
                result["database"] = kind
                return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL server to use (a scratch database is made there); default: a "
        "throwaway server",
    )
    parser.add_argument(
        "--instances", type=int, default=1, help="servers on the database (PostgreSQL only: >1)"
    )
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument(
        "--client-processes", type=int, default=4, help="processes the readers are spread over"
    )
    parser.add_argument(
        "--rates", default="100", help="offered write rates (events/s), comma-separated, in order"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument(
        "--writers", type=int, default=16, help="connections per instance for the writes"
    )
    parser.add_argument(
        "--queue-size", type=int, default=1000, help="ROUNDTABLE_EVENT_QUEUE_SIZE of the servers"
    )
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=60.0,
        help="after a phase's writes, how long readers may take to catch up",
    )
    parser.add_argument(
        "--fanout-window",
        type=float,
        default=None,
        help="ROUNDTABLE_EVENT_FANOUT_WINDOW_SECONDS of the servers (default: the server's)",
    )
    parser.add_argument(
        "--synchronous",
        default="NORMAL",
        choices=("NORMAL", "FULL"),
        help="the SQLite server's durability: the fan-out is measured here, not the fsync of "
        "each write (an event's ts is taken before its transaction waits for the write lock)",
    )
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--wait-quiet", type=float, default=0.0)
    args = parser.parse_args()
    args.rates = [float(r) for r in args.rates.split(",") if r]
    if args.backend == "sqlite" and args.instances != 1:
        parser.error("--instances > 1 needs --backend postgresql (SQLite: one server)")
    started = time.time()
    result = asyncio.run(main_async(args))
    emit(
        {
            "benchmark": "events_delivery",
            "backend": args.backend,
            "parameters": {k: v for k, v in vars(args).items() if k != "database_url"},
            "machine": machine_info(),
            "pid": os.getpid(),
            "wall_s": rounded(time.time() - started, 1),
            **result,
        }
    )


if __name__ == "__main__":
    main()
