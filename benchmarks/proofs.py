"""Merkle proof latency on a large journal: inclusion and consistency proofs, service and HTTP.

Builds a journal of `--entries` entries (default 1,000,000) through `core.journal.append` in
batches of `--batch` (1,000), realistic messages and meta, so the tree is built the way appends
build it (incrementally, nodes stored as they complete). Then measures, on that journal:

- service: `core.journal.inclusion_proof` for random seqs against the head, and against random
  older sizes; `core.journal.consistency_proof` from random old sizes to the head; and
  `tree_head` at random sizes. Each answer is checked with `merkle.verify_*` outside the clock.
- http: the same inclusion and consistency requests to a real `roundtable serve` subprocess on
  the same database (one client, sequential requests, keep-alive).

Prints one JSON object (latencies in ms). Progress goes to stderr.

    python benchmarks/proofs.py [--entries 1000000] [--batch 1000] [--samples 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from pathlib import Path
from typing import Any

import httpx

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
    serve,
    temp_data_dir,
    wait_quiet,
)
from roundtable.config import Settings
from roundtable.journal import merkle
from roundtable.journal.models import EntryInput, Status
from roundtable.runtime import Roundtable

NAMESPACE = "default"
AGENT = "bench-agent"
PROJECT = "bench-proofs"


def settings_for(data_dir: Path, database_url: str | None, batch: int) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        write_rate_per_second=1e9,
        write_burst=10**9,
        max_batch_entries=max(1_000, batch),
    )


async def build(core: Roundtable, entries: int, batch: int) -> dict[str, Any]:
    await core.journal.create_project(NAMESPACE, AGENT, PROJECT)
    interference = Interference()
    interference.start()
    t0 = time.perf_counter()
    done = 0
    while done < entries:
        n = min(batch, entries - done)
        items = []
        for i in range(done, done + n):
            message, status, kind, meta = entry_payload(i)
            items.append(EntryInput(message=message, status=Status(status), kind=kind, meta=meta))
        await core.journal.append(NAMESPACE, AGENT, PROJECT, items)
        done += n
        if done % (batch * 100) == 0:
            log(f"built {done:,} entries ({done / (time.perf_counter() - t0):,.0f}/s)")
    seconds = time.perf_counter() - t0
    return {
        "entries": entries,
        "seconds": rounded(seconds, 1),
        "entries_per_s": rounded(entries / seconds, 1),
        "interference": interference.report(),
    }


async def service_latencies(core: Roundtable, head: int, samples: int) -> dict[str, Any]:
    rng = random.Random(7)
    j = core.journal
    results: dict[str, Any] = {}

    async def timed(name: str, make: Any, check: Any) -> None:
        durations: list[float] = []
        interference = Interference()
        interference.start()
        for _ in range(samples):
            args = make()
            t0 = time.perf_counter()
            answer = await getattr(j, name.split(":")[0])(NAMESPACE, PROJECT, *args)
            durations.append(time.perf_counter() - t0)
            assert check(answer), (name, args)
        results[name] = {**latency_ms(durations), "interference": interference.report()}
        log(f"service {name}: p50 {results[name]['p50']} ms, p99 {results[name]['p99']} ms")

    def inclusion_ok(p: Any) -> bool:
        return merkle.verify_inclusion(
            bytes.fromhex(p.leaf_hash),
            p.leaf_index,
            p.tree_size,
            [bytes.fromhex(h) for h in p.path],
            bytes.fromhex(p.root),
        )

    def consistency_ok(p: Any) -> bool:
        return merkle.verify_consistency(
            p.old_size,
            p.new_size,
            bytes.fromhex(p.old_root),
            bytes.fromhex(p.new_root),
            [bytes.fromhex(h) for h in p.path],
        )

    def historic() -> tuple[int, int]:
        size = rng.randint(1, head)
        return rng.randint(1, size), size

    await timed("inclusion_proof", lambda: (rng.randint(1, head),), inclusion_ok)
    await timed("inclusion_proof:historic_size", historic, inclusion_ok)
    await timed("consistency_proof", lambda: (rng.randint(1, head - 1),), consistency_ok)
    await timed("tree_head", lambda: (rng.randint(0, head),), lambda t: len(t.root) == 64)
    return results


def http_latencies(
    data_dir: Path, database_url: str | None, head: int, samples: int
) -> dict[str, Any]:
    env = {"ROUNDTABLE_DATA_DIR": str(data_dir)}
    if database_url is not None:
        env["ROUNDTABLE_DATABASE_URL"] = database_url
    rng = random.Random(11)
    results: dict[str, Any] = {}
    with (
        serve(env) as server,
        httpx.Client(
            base_url=f"{server.api()}/projects/{PROJECT}", headers=server.headers, timeout=30
        ) as client,
    ):
        for name, path, make in (
            ("inclusion", "/proofs/inclusion", lambda: {"seq": rng.randint(1, head)}),
            ("consistency", "/proofs/consistency", lambda: {"old": rng.randint(1, head - 1)}),
        ):
            for _ in range(20):  # warm the connection and the server's caches
                client.get(path, params=make()).raise_for_status()
            durations: list[float] = []
            interference = Interference(pids=[server.pid])
            interference.start()
            for _ in range(samples):
                params = make()
                t0 = time.perf_counter()
                response = client.get(path, params=params)
                durations.append(time.perf_counter() - t0)
                response.raise_for_status()
            results[name] = {**latency_ms(durations), "interference": interference.report()}
            log(f"http {name}: p50 {results[name]['p50']} ms, p99 {results[name]['p99']} ms")
    return results


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    backend = backend_of(args.database_url)
    busy = wait_quiet(args.wait_quiet) if args.wait_quiet > 0 else None
    async with scratch_database(args.database_url) as database_url:
        with temp_data_dir("proofs", args.keep) as data_dir:
            settings = settings_for(data_dir, database_url, args.batch)
            async with Roundtable.open(settings, sweeper=False) as core:
                log(f"building a journal of {args.entries:,} entries ({backend})")
                built = await build(core, args.entries, args.batch)
                head = (await core.journal.tree_head(NAMESPACE, PROJECT)).size
                service = await service_latencies(core, head, args.samples)
            http = (
                http_latencies(data_dir, database_url, head, args.http_samples)
                if args.http_samples
                else None
            )
    return {
        "benchmark": "proofs",
        "backend": backend,
        "options": {
            "entries": args.entries,
            "batch": args.batch,
            "samples": args.samples,
            "http_samples": args.http_samples,
        },
        "build": built,
        "service": service,
        "http": http,
        "machine": {**machine_info(), "busy_share_before": busy},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000, help="journal size (1,000,000)")
    parser.add_argument("--batch", type=int, default=1_000, help="entries per append (1,000)")
    parser.add_argument("--samples", type=int, default=2_000, help="service calls per kind")
    parser.add_argument("--http-samples", type=int, default=1_000, help="HTTP calls per kind")
    add_common_args(parser)
    emit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
