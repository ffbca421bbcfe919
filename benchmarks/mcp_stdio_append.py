"""append_entry through the MCP stdio server, one call at a time (DESIGN target: p50 < 2 ms).

Starts `roundtable mcp` as a subprocess on a fresh data directory (SQLite in a temp dir unless
`--database-url` names a PostgreSQL server), talks to it with the official MCP client exactly
as an agent does, creates a project, warms up, then times `--calls` sequential `append_entry`
calls (a realistic message plus six meta keys each). Two more phases split the cost:

- `with_session`: the same calls passing `session_id`, as agents that follow the instructions
  do (each call then also renews the session's lease);
- `raw_wire`: the same calls written as JSON-RPC lines straight to the server's stdin, read
  back from its stdout, with no client library: what is left is the server and the pipe.

The journal is verified at the end. Prints one JSON object; the headline fields (`p50_ms`,
`p99_ms`, `mean_ms`) are those of the official-client phase.

    python benchmarks/mcp_stdio_append.py [--calls 500] [--warmup 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters

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

TARGET_P50_MS = 2.0
PROJECT = "bench"
PROTOCOL_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "mcp-stdio-bench", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


def roundtable_exe() -> str:
    exe = Path(sys.executable).parent / "roundtable"
    return str(exe) if exe.exists() else "roundtable"


def server_env(data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUNDTABLE_")}
    env["ROUNDTABLE_DATA_DIR"] = str(data_dir)
    env["ROUNDTABLE_AGENT"] = "bench-agent"
    # One agent appending as fast as it can: lift the per-agent write limit out of the way.
    env["ROUNDTABLE_WRITE_RATE_PER_SECOND"] = "1000000"
    env["ROUNDTABLE_WRITE_BURST"] = "1000000"
    if database_url is not None:
        env["ROUNDTABLE_DATABASE_URL"] = database_url
    return env


def children_of_me() -> list[int]:
    """Child processes of this process (Linux), to account for the server's CPU time."""
    path = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
    try:
        return [int(pid) for pid in path.read_text().split()]
    except OSError:
        return []


def arguments(i: int, session_id: str | None) -> dict[str, Any]:
    message, status, kind, meta = entry_payload(i)
    args: dict[str, Any] = {"message": message, "status": status, "kind": kind, "meta": meta}
    if session_id is not None:
        args["session_id"] = session_id
    return args


async def timed(
    calls: int, start: int, call: Callable[[int], Awaitable[None]], server_pid: int | None
) -> dict[str, Any]:
    """Run `call(i)` for `calls` consecutive i, one at a time; latency and CPU per call."""
    samples: list[float] = []
    cpu_before = process_cpu_seconds(server_pid) if server_pid else 0.0
    for i in range(start, start + calls):
        began = time.perf_counter()
        await call(i)
        samples.append(time.perf_counter() - began)
    stats = latency_ms(samples)
    if server_pid:
        used = process_cpu_seconds(server_pid) - cpu_before
        stats["server_cpu_ms_per_call"] = rounded(used * 1000 / calls)
    return stats


async def sdk_phases(
    env: dict[str, str], calls: int, warmup: int
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, float]]:
    params = StdioServerParameters(command=roundtable_exe(), args=["mcp"], env=env)
    async with Client(params, read_timeout_seconds=60) as client:
        server = children_of_me()
        server_pid = server[0] if len(server) == 1 else None
        await ok(client, "set_project", {"project": PROJECT, "create": True})
        session_id = (await ok(client, "start_session", {}))["id"]

        async def plain(i: int) -> None:
            await ok(client, "append_entry", arguments(i, None))

        async def with_session(i: int) -> None:
            await ok(client, "append_entry", arguments(i, session_id))

        log(f"warm-up: {warmup} calls")
        for i in range(warmup):
            await plain(i)
        interference = Interference(pids=[server_pid] if server_pid else [])
        interference.start()
        log(f"official client: {calls} append_entry calls, one at a time")
        sdk = await timed(calls, warmup, plain, server_pid)
        log(f"official client with session_id: {calls} calls")
        session = await timed(calls, warmup + calls, with_session, server_pid)
        report = await ok(client, "verify_journal", {})
        expected = warmup + 2 * calls
        if not report["ok"] or report["checked"] != expected:
            raise SystemExit(f"journal did not verify after the run: {report}")
        journal = {"ok": report["ok"], "entries": report["checked"]}
        return sdk, session, journal, interference.report()


async def ok(client: Client, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    if result.is_error or result.structured_content is None:
        raise SystemExit(f"{tool} failed: {result.content}")
    return dict(result.structured_content)


async def raw_phase(env: dict[str, str], calls: int, warmup: int, start: int) -> dict[str, Any]:
    """The same appends as bare JSON-RPC lines on the pipes (the modern, discover-less envelope)."""
    proc = await asyncio.create_subprocess_exec(
        roundtable_exe(),
        "mcp",
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=16 * 1024 * 1024,
    )
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout
    next_id = 0

    async def call(i: int) -> None:
        nonlocal next_id
        next_id += 1
        params = {"name": "append_entry", "arguments": arguments(i, None), "_meta": PROTOCOL_META}
        line = {"jsonrpc": "2.0", "id": next_id, "method": "tools/call", "params": params}
        stdin.write(json.dumps(line).encode() + b"\n")
        await stdin.drain()
        answer = json.loads(await stdout.readline())
        if answer.get("id") != next_id or answer.get("result", {}).get("isError", True):
            raise SystemExit(f"raw append failed: {answer}")

    try:
        for i in range(start, start + warmup):
            await call(i)
        log(f"raw JSON-RPC lines: {calls} calls")
        return await timed(calls, start + warmup, call, proc.pid)
    finally:
        stdin.close()
        await proc.wait()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=500, help="timed calls per phase")
    parser.add_argument("--warmup", type=int, default=50, help="untimed calls first")
    add_common_args(parser)
    options = parser.parse_args()
    if options.wait_quiet:
        wait_quiet(options.wait_quiet)

    with temp_data_dir("mcp-stdio", keep=options.keep) as data_dir:
        async with scratch_database(options.database_url) as database_url:
            env = server_env(data_dir, database_url)
            sdk, session, journal, load = await sdk_phases(env, options.calls, options.warmup)
            raw = await raw_phase(
                env, options.calls, options.warmup, options.warmup + 2 * options.calls
            )

    emit(
        {
            "benchmark": "mcp_stdio_append",
            "n": sdk["count"],
            "p50_ms": sdk["p50"],
            "p99_ms": sdk["p99"],
            "mean_ms": sdk["mean"],
            "backend": backend_of(options.database_url),
            "target_p50_ms": TARGET_P50_MS,
            "meets_target": sdk["p50"] < TARGET_P50_MS,
            "phases": {"official_client": sdk, "with_session": session, "raw_wire": raw},
            "journal": journal,
            "interference": load,
            "machine": machine_info(),
        }
    )


if __name__ == "__main__":
    asyncio.run(main())
