"""MCP gateway overhead: a proxied `tools/call` against the same call made directly.

Starts a real upstream MCP server (official SDK) over HTTP (bearer token) and over stdio, and
the runner's gateway in this process with one run open. For each transport it times `--calls`
`tools/call echo` round trips (after `--warmup`) with the official MCP client, alternating
direct and proxied calls so both see the same machine load, and prints p50/p99 in ms and the
p50 overhead. The direct stdio client is this process talking to its own upstream process; the
proxied one goes client -> gateway (loopback HTTP) -> the gateway's stdio upstream. Each
proxied call's `mcp_call` event goes to a stand-in for the server's progress endpoint taking
REPORT_SECONDS per report (batched, off the call path); `mcp_call_events` shows they all came.
Target (issue 12): the proxy adds < 2 ms at p50. Prints one JSON object.

    python benchmarks/gateway.py [--calls 300] [--warmup 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from roundtable.runner.gateway import Gateway, RunnerSecrets
from roundtable.runner.protocol import ClaimedRun

UPSTREAM = str(Path(__file__).resolve().parents[1] / "tests" / "runner" / "upstream_server.py")
TOKEN = "bench-token"
REPORT_SECONDS = 0.005


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)


async def timed(client: Client) -> float:
    start = time.perf_counter()
    await client.call_tool("echo", {"text": "x"})
    return time.perf_counter() - start


async def compare(direct: Client, proxied: Client, calls: int, warmup: int) -> dict[str, Any]:
    for _ in range(warmup):
        await timed(direct)
        await timed(proxied)
    d: list[float] = []
    p: list[float] = []
    for _ in range(calls):
        d.append(await timed(direct))
        p.append(await timed(proxied))
    return {
        "direct_p50_ms": pct(d, 0.5),
        "direct_p99_ms": pct(d, 0.99),
        "proxied_p50_ms": pct(p, 0.5),
        "proxied_p99_ms": pct(p, 0.99),
        "overhead_p50_ms": round((statistics.median(p) - statistics.median(d)) * 1000, 3),
    }


def start_upstream(port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "UPSTREAM_TOKEN": TOKEN}
    return subprocess.Popen([sys.executable, UPSTREAM, "http", str(port)], env=env)


async def main(calls: int, warmup: int) -> dict[str, Any]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = start_upstream(port)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        url = f"http://127.0.0.1:{port}/mcp"
        entries = [
            {"name": "web", "transport": "http", "url": url,
             "auth": {"kind": "bearer", "secret": "BENCH_TOKEN"}},
            {"name": "local", "transport": "stdio", "command": sys.executable,
             "args": [UPSTREAM, "stdio"]},
        ]  # fmt: skip
        run = ClaimedRun.model_validate(
            {"id": "bench-run", "session_id": "bench-session", "run_token": "-",
             "blueprint": {"name": "bench", "executor": {"kind": "script"},
                           "mcp_servers": ["web", "local"]}, "mcp_registry": entries}
        )  # fmt: skip

        reported: list[dict[str, Any]] = []

        async def report(batch: list[dict[str, Any]]) -> None:
            # Stands in for the server's progress endpoint (a few ms a report); the gateway
            # sends its `mcp_call` events in batches off the call path, so this never adds
            # to a call's latency, and every call's event must still arrive.
            await asyncio.sleep(REPORT_SECONDS)
            reported.extend(batch)

        results: dict[str, Any] = {"calls": calls, "warmup": warmup,
                                   "cpus": os.cpu_count(), "load1": os.getloadavg()[0]}  # fmt: skip
        gateway = Gateway(RunnerSecrets(env={"BENCH_TOKEN": TOKEN}))
        async with gateway, gateway.open_run(run, report) as grant:
            cap = {"Authorization": f"Bearer {grant.token}"}
            direct_auth = {"Authorization": f"Bearer {TOKEN}"}
            async with (
                httpx2.AsyncClient(headers=direct_auth) as h1,
                httpx2.AsyncClient(headers=cap) as h2,
                Client(streamable_http_client(url, http_client=h1)) as direct,
                Client(streamable_http_client(grant.urls["web"], http_client=h2)) as proxied,
            ):
                results["http"] = await compare(direct, proxied, calls, warmup)
            params = StdioServerParameters(command=sys.executable, args=[UPSTREAM, "stdio"])
            async with (
                httpx2.AsyncClient(headers=cap) as h3,
                Client(stdio_client(params)) as direct,
                Client(streamable_http_client(grant.urls["local"], http_client=h3)) as proxied,
            ):
                results["stdio"] = await compare(direct, proxied, calls, warmup)
        results["mcp_call_events"] = {
            "proxied_calls": 2 * (calls + warmup),
            "reported": len(reported),
            "lost": grant.events.lost,
            "report_ms": REPORT_SECONDS * 1000,
        }
        results["target_overhead_p50_ms"] = 2.0
        return results
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.calls, args.warmup)), indent=2))
