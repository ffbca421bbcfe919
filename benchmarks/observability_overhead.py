"""What metrics and tracing cost on the stdio append path (target: < 5 % with tracing off).

Runs `roundtable mcp` (through `observability_variant.py`, which sets up one variant and then
starts the ordinary stdio server) in three variants on one fresh data directory:

- `bare`: the metric objects replaced by no-ops, tracing off: the code as if uninstrumented
  (and as `roundtable mcp` runs unless `PROMETHEUS_MULTIPROC_DIR` is set);
- `metrics`: metrics recorded (as with that variable set), tracing off;
- `tracing`: metrics recorded, with an OpenTelemetry SDK tracer provider and a batch processor whose
  exporter drops the spans (the cost of making spans, not of shipping them).

Each round times `--calls` sequential `append_entry` calls per variant as bare JSON-RPC lines on
the server's pipes (no client library in the measurement), the variants interleaved round by
round so machine noise hits them alike. Reported per variant: the median over rounds of p50
latency and of server CPU per call, and the overhead of each against `bare`.

    python benchmarks/observability_overhead.py [--calls 100] [--rounds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchlib import (
    Interference,
    add_common_args,
    backend_of,
    emit,
    entry_payload,
    latency_ms,
    log,
    machine_info,
    process_cpu_seconds,
    rounded,
    scratch_database,
    temp_data_dir,
    wait_quiet,
)
from mcp_stdio_append import PROTOCOL_META, server_env

VARIANTS = ("bare", "metrics", "tracing")
TARGET_OVERHEAD = 0.05
HERE = Path(__file__).parent


class Server:
    """One `roundtable mcp` process of a variant, spoken to in raw JSON-RPC lines."""

    def __init__(self, variant: str) -> None:
        self.variant = variant
        self.proc: asyncio.subprocess.Process | None = None
        self.next_id = 0

    async def start(self, env: dict[str, str]) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(HERE / "observability_variant.py"),
            self.variant,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=16 * 1024 * 1024,
        )

    async def call(self, tool: str, arguments: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin and self.proc.stdout
        self.next_id += 1
        params = {"name": tool, "arguments": arguments, "_meta": PROTOCOL_META}
        line = {"jsonrpc": "2.0", "id": self.next_id, "method": "tools/call", "params": params}
        self.proc.stdin.write(json.dumps(line).encode() + b"\n")
        await self.proc.stdin.drain()
        answer = json.loads(await self.proc.stdout.readline())
        if answer.get("id") != self.next_id or answer.get("result", {}).get("isError", True):
            raise SystemExit(f"{self.variant}: {tool} failed: {answer}")

    async def stop(self) -> None:
        assert self.proc is not None and self.proc.stdin
        self.proc.stdin.close()
        await self.proc.wait()


def append_args(i: int) -> dict[str, Any]:
    message, status, kind, meta = entry_payload(i)
    return {"message": message, "status": status, "kind": kind, "meta": meta, "project": "bench"}


async def measure(server: Server, calls: int, start: int) -> dict[str, float]:
    assert server.proc is not None
    samples: list[float] = []
    cpu_before = process_cpu_seconds(server.proc.pid)
    for i in range(start, start + calls):
        began = time.perf_counter()
        await server.call("append_entry", append_args(i))
        samples.append(time.perf_counter() - began)
    cpu = process_cpu_seconds(server.proc.pid) - cpu_before
    stats = latency_ms(samples)
    return {"p50_ms": stats["p50"], "mean_ms": stats["mean"], "cpu_ms": cpu * 1000 / calls}


def instrumentation_us(iterations: int = 2_000, repeats: int = 20) -> float:
    """Microseconds of the instrumentation one stdio append runs with tracing off, timed in a
    tight loop in this process: the tool histogram, the three database histograms, the two
    journal counters, the id scope and annotations, and the (no-op) span."""
    from roundtable import metrics, tracing

    def one() -> None:
        with tracing.call_scope():
            tracing.annotate(agent=None, session=None, project="bench", namespace=None)
            with tracing.span("execute_tool append_entry", attributes={}):
                tracing.annotate(agent="bench-agent", namespace="default")
                tracing.annotate(session=None)
                began = time.perf_counter()
                metrics.DB_WRITE_LOCK_WAIT_SECONDS.labels("sqlite").observe(0.0001)
                metrics.DB_TRANSACTION_SECONDS.labels("sqlite").observe(time.perf_counter() - began)
                metrics.JOURNAL_APPENDS.inc()
                metrics.JOURNAL_ENTRIES.inc(1)
            metrics.labelled(metrics.MCP_TOOL_SECONDS, "append_entry", "stdio", "ok").observe(
                time.perf_counter() - began
            )

    for _ in range(1000):
        one()
    best = float("inf")
    for _ in range(repeats):  # the fastest repeat: the cost itself, least preempted
        began = time.perf_counter()
        for _ in range(iterations):
            one()
        best = min(best, (time.perf_counter() - began) * 1e6 / iterations)
    return best


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=100, help="timed calls per variant, per round")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=100)
    add_common_args(parser)
    options = parser.parse_args()
    if options.wait_quiet:
        wait_quiet(options.wait_quiet)

    with temp_data_dir("observability", keep=options.keep) as data_dir:
        async with scratch_database(options.database_url) as database_url:
            env = server_env(data_dir, database_url)
            servers = {v: Server(v) for v in VARIANTS}
            for server in servers.values():
                await server.start(env)
            await servers["bare"].call("set_project", {"project": "bench", "create": True})
            counter = 0
            for server in servers.values():
                for _ in range(options.warmup):
                    await server.call("append_entry", append_args(counter))
                    counter += 1
            pids = [s.proc.pid for s in servers.values() if s.proc is not None]
            interference = Interference(pids=pids)
            interference.start()
            rounds: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
            for r in range(options.rounds):
                order = VARIANTS if r % 2 == 0 else tuple(reversed(VARIANTS))
                for variant in order:
                    log(f"round {r + 1}/{options.rounds}: {variant}")
                    rounds[variant].append(await measure(servers[variant], options.calls, counter))
                    counter += options.calls
            load = interference.report()
            for server in servers.values():
                await server.stop()

    summary: dict[str, dict[str, float]] = {}
    for variant, results in rounds.items():
        summary[variant] = {
            key: rounded(statistics.median(r[key] for r in results), 4)
            for key in ("p50_ms", "mean_ms", "cpu_ms")
        }
    bare = summary["bare"]
    micro = instrumentation_us()
    # Paired by round (the variants of one round ran back to back, under the same load): the
    # median of the per-round ratios resists a noisy neighbour better than a ratio of medians.
    overhead = {
        variant: {
            key: rounded(
                statistics.median(
                    mine[f"{key}_ms"] / base[f"{key}_ms"] - 1
                    for mine, base in zip(rounds[variant], rounds["bare"], strict=True)
                    if base[f"{key}_ms"] > 0
                ),
                4,
            )
            for key in ("p50", "mean")
        }
        for variant in ("metrics", "tracing")
    }
    emit(
        {
            "benchmark": "observability_overhead",
            "backend": backend_of(options.database_url),
            "calls_per_round": options.calls,
            "rounds": options.rounds,
            "variants": summary,
            "overhead_vs_bare": overhead,
            "instrumentation_us_per_append": rounded(micro, 2),
            "instrumentation_share_of_bare_cpu": rounded(micro / 1000 / bare["cpu_ms"], 4),
            "target": {
                "metrics_overhead_below": TARGET_OVERHEAD,
                "met": overhead["metrics"]["p50"] < TARGET_OVERHEAD,
            },
            "per_round": rounds,
            "interference": load,
            "machine": machine_info(),
        }
    )


if __name__ == "__main__":
    asyncio.run(main())
