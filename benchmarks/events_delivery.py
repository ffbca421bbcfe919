"""Event delivery over SSE across two server instances on one PostgreSQL (issue 4).

Starts two `roundtable serve` processes on one PostgreSQL database (a throwaway server like the
test suite's unless `--database-url` is given), connects `--subscribers` SSE readers split
evenly across them (a light asyncio client over raw sockets, so the client is not the
bottleneck), then runs phases in which writers append journal entries through both instances
at a steady offered rate. Every event's latency is measured from its commit timestamp (the
event's `ts`, taken inside the writing transaction) to its receipt by each subscriber.

A phase counts as sustained with no loss when every subscriber received every event of the
phase exactly once, in id order, and no subscriber was dropped. Prints one JSON object:
per phase the offered and achieved rate, delivery latency p50/p99, and loss; at the top the
highest sustained rate.

    python benchmarks/events_delivery.py [--subscribers 1000] [--rates 10,25,50,100]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
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
    rounded,
    scratch_database,
    serve,
    temp_data_dir,
    wait_quiet,
)

STREAM = "/api/v1/events/stream"
REPO = Path(__file__).resolve().parent.parent


@dataclass
class Subscriber:
    """One SSE connection: what it received in the current phase."""

    server: Server
    token: str
    ids: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    dropped: int = 0
    last: int = 0
    frames: int = 0
    error: str | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, after: int) -> None:
        """Read the stream until cancelled (chunked HTTP/1.1, SSE frames split on blank lines)."""
        host, port = self.server.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port), limit=1 << 20)
        try:
            request = (
                f"GET {STREAM} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Authorization: Bearer {self.token}\r\nAccept: text/event-stream\r\n"
                f"Last-Event-ID: {after}\r\n\r\n"
            )
            writer.write(request.encode())
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head.decode(errors="replace"))
            buffer = b""
            while True:
                size_line = await reader.readline()
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    return
                chunk = await reader.readexactly(size + 2)
                now = time.time()
                buffer += chunk[:-2]
                while b"\n\n" in buffer:
                    frame, buffer = buffer.split(b"\n\n", 1)
                    self._frame(frame, now)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # reported in the result, not swallowed
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            writer.close()

    def _frame(self, frame: bytes, now: float) -> None:
        if frame.startswith(b"retry:") or frame.startswith(b":"):
            if b": subscribed" in frame:
                self.ready.set()
            return
        self.frames += 1
        if b"event: dropped" in frame:
            self.dropped += 1
            return
        start = frame.index(b"id: ") + 4
        event_id = int(frame[start : frame.index(b"\n", start)])
        ts_at = frame.index(b'"ts":"') + 6
        ts = frame[ts_at : frame.index(b'"', ts_at)].decode()
        self.latencies.append(now - datetime.fromisoformat(ts).timestamp())
        self.ids.append(event_id)
        self.last = event_id

    def reset(self) -> None:
        self.ids, self.latencies = [], []


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
    servers: list[Server],
    subs: list[Subscriber],
    rate: float,
    args: argparse.Namespace,
) -> dict[str, Any]:
    for sub in subs:
        sub.reset()
    first = await latest(servers[0])
    interference = Interference(pids=[s.pid for s in servers])
    interference.start()
    written, achieved = await write_phase(servers, rate, args.seconds, args.writers)
    expected = await ids_after(servers[0], first)
    last = expected[-1] if expected else first
    deadline = time.monotonic() + args.drain_seconds
    while time.monotonic() < deadline:
        if all(sub.last >= last or sub.dropped or sub.error for sub in subs):
            break
        await asyncio.sleep(0.1)
    drained_s = args.drain_seconds - max(0.0, deadline - time.monotonic())
    other = interference.report()
    complete = sum(1 for sub in subs if sub.ids == expected)
    samples = [x for sub in subs for x in sub.latencies]
    result = {
        "offered_rate": rate,
        "achieved_write_rate": rounded(achieved, 1),
        "events": written,
        "events_in_table": len(expected),  # the appends, plus any event other features wrote
        "subscribers_complete": complete,
        "subscribers_dropped": sum(1 for sub in subs if sub.dropped),
        "subscribers_failed": sum(1 for sub in subs if sub.error),
        "deliveries": len(samples),
        "deliveries_per_s": rounded(len(samples) / max(other["wall_s"], 1e-9), 1),
        "no_loss": complete == len(subs),
        "drain_after_writes_s": rounded(drained_s, 2),
        "latency_commit_to_receipt_ms": latency_ms(samples),
        "interference": other,
    }
    errors = {sub.error for sub in subs if sub.error}
    if errors:
        result["errors"] = sorted(errors)[:5]
    return result


async def connect_all(
    servers: list[Server], count: int, after: int
) -> tuple[list[Subscriber], list[asyncio.Task[None]]]:
    """Connect in batches of 50, each batch subscribed before the next starts."""
    subs = [
        Subscriber(server=servers[i % len(servers)], token=servers[0].admin_token)
        for i in range(count)
    ]
    tasks: list[asyncio.Task[None]] = []
    for first in range(0, count, 50):
        batch = subs[first : first + 50]
        tasks += [asyncio.create_task(sub.run(after)) for sub in batch]
        await asyncio.wait_for(asyncio.gather(*(sub.ready.wait() for sub in batch)), 120)
    return subs, tasks


async def measure(servers: list[Server], args: argparse.Namespace) -> dict[str, Any]:
    async with httpx.AsyncClient(headers=servers[0].headers, timeout=60) as client:
        r = await client.put(
            f"{servers[0].api()}/agents/bench-writer-0/context",
            json={"project": "bench", "create": True},
        )
        r.raise_for_status()
    start = await latest(servers[0])
    log(f"connecting {args.subscribers} subscribers across {len(servers)} instances")
    t0 = time.perf_counter()
    subs, tasks = await connect_all(servers, args.subscribers, start)
    connect_s = time.perf_counter() - t0
    phases = []
    for rate in args.rates:
        log(f"phase: {rate:g} events/s for {args.seconds:g}s")
        phase = await run_phase(servers, subs, rate, args)
        log(
            f"  no_loss={phase['no_loss']} p50={phase['latency_commit_to_receipt_ms'].get('p50')}"
            f" p99={phase['latency_commit_to_receipt_ms'].get('p99')} ms"
        )
        phases.append(phase)
        if not phase["no_loss"] or phase["subscribers_failed"]:
            break
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    sustained = [p for p in phases if p["no_loss"]]
    best = max(sustained, key=lambda p: p["achieved_write_rate"]) if sustained else None
    return {
        "subscribers": args.subscribers,
        "instances": len(servers),
        "connect_all_s": rounded(connect_s, 2),
        "phases": phases,
        "sustained_events_per_s_no_loss": best["achieved_write_rate"] if best else 0,
        "sustained_deliveries_per_s": best["deliveries_per_s"] if best else 0,
        "latency_at_sustained_ms": best["latency_commit_to_receipt_ms"] if best else None,
    }


@contextlib.asynccontextmanager
async def postgres(database_url: str | None) -> Any:
    """The given server's scratch database, or a throwaway PostgreSQL like the tests use."""
    if database_url is not None:
        async with scratch_database(database_url) as url:
            yield url, "given"
        return
    sys.path.insert(0, str(REPO))
    from tests import pg  # the test suite's throwaway server (fsync off)

    server = pg.start()
    try:
        async with scratch_database(server.url("postgres")) as url:
            yield url, "throwaway (initdb, fsync=off, synchronous_commit=off)"
    finally:
        server.stop()


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, args.subscribers * 2 + 1024))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    async with postgres(args.database_url) as (url, pg_kind):
        with temp_data_dir("events", keep=args.keep) as data_dir:
            env = {
                "ROUNDTABLE_DATA_DIR": str(data_dir),
                "ROUNDTABLE_DATABASE_URL": url,
                "ROUNDTABLE_WRITE_RATE_PER_SECOND": "1000000",
                "ROUNDTABLE_WRITE_BURST": "1000000",
                "ROUNDTABLE_EVENT_QUEUE_SIZE": str(args.queue_size),
            }
            with serve(env) as one, serve(env) as two:
                if args.wait_quiet:
                    wait_quiet(args.wait_quiet)
                result = await measure([one, two], args)
                result["postgresql"] = pg_kind
                return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL server to use "
        "(a scratch database is made there); default: a throwaway server",
    )
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument(
        "--rates",
        default="10,25,50,100",
        help="offered write rates (events/s), comma-separated, tried in order",
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
        help="after a phase's writes, how long subscribers may take to catch up",
    )
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--wait-quiet", type=float, default=0.0)
    args = parser.parse_args()
    args.rates = [float(r) for r in args.rates.split(",") if r]
    started = time.time()
    result = asyncio.run(main_async(args))
    emit(
        {
            "benchmark": "events_delivery",
            "backend": "postgresql",
            "parameters": {k: v for k, v in vars(args).items() if k != "database_url"},
            "machine": machine_info(),
            "pid": os.getpid(),
            "wall_s": rounded(time.time() - started, 1),
            **result,
        }
    )


if __name__ == "__main__":
    main()
