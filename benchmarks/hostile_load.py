"""`/healthz` latency while 8 hostile clients attack (issue 15; target: p99 < 100 ms).

Starts the real server (`roundtable serve` as a subprocess), seeds 2,000 entries of
`"a"*1400 + "!"` (each costs the worst regex ~20 ms), then runs for `--seconds`:

- `--regex` clients (each its own agent token) looping `query_entries` with
  `[a-z]*[a-z]*[a-z]*[0-9]` (following the continuation cursor);
- `--bodies` clients POSTing 64 MiB chunked bodies, unauthenticated, to `.../entries`;
- `--cursors` clients sending overflowing and malformed cursors and out-of-range numbers;

while one prober GETs `/healthz` every 20 ms. Prints one JSON object: the probe latencies, and
per attack kind the count of each status and of 5xx (which must be 0).

    python benchmarks/hostile_load.py [--seconds 20] [--regex 4] [--bodies 2] [--cursors 2]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import time
from collections import Counter
from typing import Any

import httpx

from benchlib import (
    Server,
    add_common_args,
    backend_of,
    emit,
    latency_ms,
    log,
    machine_info,
    scratch_database,
    serve,
    temp_data_dir,
    wait_quiet,
)

TARGET_P99_MS = 100.0
WORST = "[a-z]*[a-z]*[a-z]*[0-9]"


def _cursor(position: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps({"p": position}).encode()).decode().rstrip("=")


async def seed(server: Server, n: int) -> None:
    async with httpx.AsyncClient(headers=server.headers, timeout=120) as client:
        await client.post(f"{server.api()}/projects", json={"name": "web"})
        for start in range(0, n, 1000):
            batch = [{"message": "a" * 1400 + "!"}] * min(1000, n - start)
            r = await client.post(
                f"{server.api()}/projects/web/entries", json={"agent": "a", "entries": batch}
            )
            r.raise_for_status()


async def token(server: Server, agent: str) -> str:
    async with httpx.AsyncClient(headers=server.headers) as client:
        r = await client.post(f"{server.api()}/tokens", json={"agent": agent})
        r.raise_for_status()
        return str(r.json()["token"])


async def regex_client(server: Server, agent_token: str, stop: float, seen: Counter[str]) -> None:
    headers = {"Authorization": f"Bearer {agent_token}"}
    cursor = None
    async with httpx.AsyncClient(headers=headers, timeout=120) as client:
        while time.monotonic() < stop:
            body: dict[str, Any] = {"regex": WORST, "limit": 500}
            if cursor:
                body["cursor"] = cursor
            r = await client.post(f"{server.api()}/entries/query", json=body)
            seen[str(r.status_code)] += 1
            cursor = r.json().get("next_cursor") if r.status_code == 200 else None
            if r.status_code == 429:
                await asyncio.sleep(0.2)


async def body_client(server: Server, stop: float, seen: Counter[str]) -> None:
    async def chunks() -> Any:
        for _ in range(64):
            yield b"x" * (1 << 20)

    async with httpx.AsyncClient(timeout=120) as client:
        while time.monotonic() < stop:
            try:
                r = await client.post(f"{server.api()}/projects/web/entries", content=chunks())
                seen[str(r.status_code)] += 1
            except httpx.HTTPError as exc:  # the server may close a connection it cut off
                seen[type(exc).__name__] += 1


async def cursor_client(server: Server, stop: float, seen: Counter[str]) -> None:
    bad = [_cursor(2**63), _cursor(-1), _cursor("x"), "!!!", _cursor(10**30)]
    async with httpx.AsyncClient(headers=server.headers, timeout=60) as client:
        i = 0
        while time.monotonic() < stop:
            c = bad[i % len(bad)]
            i += 1
            for r in (
                await client.get(f"{server.api()}/projects/web/entries", params={"cursor": c}),
                await client.post(f"{server.api()}/entries/query", json={"cursor": c}),
                await client.post(f"{server.api()}/entries/query", json={"seq_min": 10**20}),
                await client.post(
                    f"{server.api()}/entries/query", json={"since": "0001-01-01T00:00:00+14:00"}
                ),
            ):
                seen[str(r.status_code)] += 1


def prober(server: Server, stop: float, samples: list[float], errors: Counter[str]) -> None:
    """GET /healthz every 20 ms from its own thread (the attackers' event loop, busy making
    64 MiB bodies, must not delay the probe: only the server's latency is measured)."""
    with httpx.Client(timeout=30) as client:
        while time.monotonic() < stop:
            start = time.perf_counter()
            try:
                r = client.get(f"{server.url}/healthz")
                if r.status_code != 200:
                    errors[str(r.status_code)] += 1
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] += 1
            samples.append(time.perf_counter() - start)
            time.sleep(0.02)


async def benchmark(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    log(f"seeding {args.entries} worst-case entries")
    await seed(server, args.entries)
    tokens = [await token(server, f"mallory{i}") for i in range(args.regex)]
    baseline: list[float] = []
    await asyncio.to_thread(prober, server, time.monotonic() + 2, baseline, Counter())
    log(f"attacking for {args.seconds}s")
    stop = time.monotonic() + args.seconds
    seen = {"regex": Counter[str](), "bodies": Counter[str](), "cursors": Counter[str]()}
    samples: list[float] = []
    probe_errors: Counter[str] = Counter()
    await asyncio.gather(
        asyncio.to_thread(prober, server, stop, samples, probe_errors),
        *(regex_client(server, t, stop, seen["regex"]) for t in tokens),
        *(body_client(server, stop, seen["bodies"]) for _ in range(args.bodies)),
        *(cursor_client(server, stop, seen["cursors"]) for _ in range(args.cursors)),
    )
    under = latency_ms(samples)
    five_xx = sum(n for c in seen.values() for k, n in c.items() if k.startswith("5"))
    return {
        "healthz_idle_ms": latency_ms(baseline),
        "healthz_under_attack_ms": under,
        "healthz_errors": dict(probe_errors),
        "attacks": {kind: dict(c) for kind, c in seen.items()},
        "server_5xx": five_xx,
        "target": {
            "healthz_p99_ms": TARGET_P99_MS,
            "met": bool(under.get("p99", 1e9) < TARGET_P99_MS) and five_xx == 0,
        },
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    busy = wait_quiet(args.wait_quiet) if args.wait_quiet > 0 else None
    async with scratch_database(args.database_url) as database_url:
        with temp_data_dir("hostile", args.keep) as data_dir:
            env = {"ROUNDTABLE_DATA_DIR": str(data_dir)}
            if database_url:
                env["ROUNDTABLE_DATABASE_URL"] = database_url
            with serve(env) as server:
                log(f"server {server.url} ({backend_of(database_url)})")
                result = await benchmark(server, args)
    return {
        "benchmark": "hostile_load",
        "backend": backend_of(args.database_url),
        "options": {
            "seconds": args.seconds,
            "entries": args.entries,
            "regex_clients": args.regex,
            "body_clients": args.bodies,
            "cursor_clients": args.cursors,
        },
        **result,
        "machine": {**machine_info(), "busy_share_before": busy},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="attack duration (20)")
    parser.add_argument("--entries", type=int, default=2000, help="worst-case entries (2000)")
    parser.add_argument("--regex", type=int, default=4, help="regex clients (4)")
    parser.add_argument("--bodies", type=int, default=2, help="huge-body clients (2)")
    parser.add_argument("--cursors", type=int, default=2, help="bad-cursor clients (2)")
    add_common_args(parser)
    emit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
