"""append_entry through the MCP stdio server against the SDK's own floor, in one run (issue 16).

Starts four stdio servers side by side and times sequential calls to each, interleaved in
rounds of `--batch` calls (the order rotates every round), so machine load hits all alike:

- `roundtable`: `roundtable mcp` on a fresh data directory (SQLite at `synchronous=FULL`
  unless `--database-url` names a PostgreSQL server), through the official MCP client exactly
  as an agent calls it (a realistic message plus six meta keys; after `start_session` the
  stdio server names that session on every call, so the lease check runs each time);
- `noop`: a one-tool `MCPServer` on the same SDK taking the same arguments and doing nothing
  (benchmarks/stdio_floor_servers.py), through the same client: the SDK's floor;
- `echo`: a plain asyncio JSON-RPC echo, with bare JSON-RPC lines on the pipes: the pipe floor;
- `roundtable_raw`: a second `roundtable mcp` on the same database, with bare JSON-RPC lines
  (no client library): the server's own cost without the client's.

Server CPU per call comes from /proc/<pid>/stat (utime + stime) around each batch. Prints one
JSON object: p50/p99/mean and CPU per call for each, and the ratios to the floors (target:
`append_over_noop_p50` <= 1.5 and `server_cpu_ms_per_append` <= 1). The journal is verified.

    python benchmarks/mcp_stdio_append.py [--calls 1000] [--batch 50] [--warmup 50]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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

TARGET_RATIO = 1.5
TARGET_CPU_MS = 1.0
FLOORS = Path(__file__).with_name("stdio_floor_servers.py")
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


class Target:
    """One server under test: how to call it once, and its process for the CPU account."""

    def __init__(self, name: str, call: Callable[[int], Awaitable[None]], pid: int | None):
        self.name, self.call, self.pid = name, call, pid
        self.samples: list[float] = []
        self.cpu_s = 0.0

    async def batch(self, start: int, count: int) -> None:
        cpu = process_cpu_seconds(self.pid) if self.pid else 0.0
        for i in range(start, start + count):
            began = time.perf_counter()
            await self.call(i)
            self.samples.append(time.perf_counter() - began)
        if self.pid:
            self.cpu_s += process_cpu_seconds(self.pid) - cpu

    def report(self) -> dict[str, Any]:
        stats = latency_ms(self.samples)
        if self.pid:
            stats["server_cpu_ms_per_call"] = rounded(self.cpu_s * 1000 / len(self.samples))
        return stats


async def ok(client: Client, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    if result.is_error or result.structured_content is None:
        raise SystemExit(f"{tool} failed: {result.content}")
    return dict(result.structured_content)


def new_child(before: set[int]) -> int | None:
    fresh = set(children_of_me()) - before
    return fresh.pop() if len(fresh) == 1 else None


async def sdk_target(
    stack: contextlib.AsyncExitStack, name: str, params: StdioServerParameters
) -> tuple[Client, Target]:
    before = set(children_of_me())
    client = await stack.enter_async_context(Client(params, read_timeout_seconds=60))
    pid = new_child(before)

    async def call(i: int) -> None:
        await ok(client, "append_entry", arguments(i, None))

    return client, Target(name, call, pid)


async def raw_target(
    stack: contextlib.AsyncExitStack, name: str, argv: list[str], env: dict[str, str]
) -> Target:
    """Bare JSON-RPC lines on the pipes (the modern, discover-less envelope)."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=16 * 1024 * 1024,
    )
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout

    async def close() -> None:
        stdin.close()
        await proc.wait()

    stack.push_async_callback(close)
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
            raise SystemExit(f"{name}: call failed: {answer}")

    return Target(name, call, proc.pid)


async def run(
    env: dict[str, str], calls: int, batch: int, warmup: int
) -> tuple[dict[str, dict[str, Any]], dict[str, Any], dict[str, float]]:
    floor_env = {k: v for k, v in env.items() if not k.startswith("ROUNDTABLE_")}
    async with contextlib.AsyncExitStack() as stack:
        roundtable, rt = await sdk_target(
            stack,
            "roundtable",
            StdioServerParameters(command=roundtable_exe(), args=["mcp"], env=env),
        )
        await ok(roundtable, "set_project", {"project": PROJECT, "create": True})
        # As agents following the instructions do: the stdio server then names this session
        # on every call (warm start, D15), and the second server below resumes it.
        await ok(roundtable, "start_session", {})
        _, noop = await sdk_target(
            stack,
            "noop",
            StdioServerParameters(
                command=sys.executable, args=[str(FLOORS), "noop"], env=floor_env
            ),
        )
        echo = await raw_target(stack, "echo", [sys.executable, str(FLOORS), "echo"], floor_env)
        raw = await raw_target(stack, "roundtable_raw", [roundtable_exe(), "mcp"], env)
        targets = [rt, noop, echo, raw]
        log(f"warm-up: {warmup} calls each")
        for target in targets:
            for i in range(warmup):
                await target.call(i)
            target.samples.clear()
        interference = Interference(pids=[t.pid for t in targets if t.pid])
        interference.start()
        rounds = max(1, calls // batch)
        log(f"{rounds} rounds of {batch} calls per server, interleaved")
        for r in range(rounds):
            order = targets[r % len(targets) :] + targets[: r % len(targets)]
            for target in order:
                await target.batch(warmup + r * batch, batch)
        load = interference.report()
        report = await ok(roundtable, "verify_journal", {})
        expected = 2 * (warmup + rounds * batch)
        if not report["ok"] or report["checked"] != expected:
            raise SystemExit(f"journal did not verify after the run: {report}")
        journal = {"ok": report["ok"], "entries": report["checked"]}
        return {t.name: t.report() for t in targets}, journal, load


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=1000, help="timed calls per server")
    parser.add_argument("--batch", type=int, default=50, help="calls per server per round")
    parser.add_argument("--warmup", type=int, default=50, help="untimed calls first")
    add_common_args(parser)
    options = parser.parse_args()
    if options.wait_quiet:
        wait_quiet(options.wait_quiet)

    with temp_data_dir("mcp-stdio", keep=options.keep) as data_dir:
        async with scratch_database(options.database_url) as database_url:
            env = server_env(data_dir, database_url)
            servers, journal, load = await run(env, options.calls, options.batch, options.warmup)

    rt, noop, echo = servers["roundtable"], servers["noop"], servers["echo"]
    ratio = rt["p50"] / noop["p50"]
    cpu = rt.get("server_cpu_ms_per_call")
    emit(
        {
            "benchmark": "mcp_stdio_append",
            "n": rt["count"],
            "p50_ms": rt["p50"],
            "p99_ms": rt["p99"],
            "mean_ms": rt["mean"],
            "backend": backend_of(options.database_url),
            "sqlite_synchronous": "FULL",
            "append_over_noop_p50": rounded(ratio, 2),
            "append_over_noop_p99": rounded(rt["p99"] / noop["p99"], 2),
            "append_over_echo_p50": rounded(rt["p50"] / echo["p50"], 2),
            "noop_over_echo_p50": rounded(noop["p50"] / echo["p50"], 2),
            "server_cpu_ms_per_append": cpu,
            "target_ratio": TARGET_RATIO,
            "target_cpu_ms": TARGET_CPU_MS,
            "meets_target": ratio <= TARGET_RATIO and cpu is not None and cpu <= TARGET_CPU_MS,
            "servers": servers,
            "journal": journal,
            "interference": load,
            "machine": machine_info(),
        }
    )


if __name__ == "__main__":
    asyncio.run(main())
