"""Cold start of `roundtable mcp` to its first `tools/list` answer, and that answer's size.

MCP clients (Claude Code, Codex) start every stdio server at each launch, so this is what a
user waits for (issue 14 target: p50 < 0.5 s). Each run starts a fresh process, writes
`initialize`, `notifications/initialized` and `tools/list` as JSON-RPC lines, and stops the
clock when the `tools/list` answer has been read. Two modes are timed: the local server (its
own SQLite database in a fresh data directory) and the bridge (`--url`) to a running
`roundtable serve`. The clock also runs on to the answer of a first `tools/call`
(`list_projects`), which waits for the MCP SDK, the tools and the database to be ready behind
the fast front (docs/mcp.md, "Cold start"). Also reported: the bytes of `tools/list` (all
tools, and the core journal, session and event tools budgeted by
tests/mcp/test_tool_list_size.py), and how long `roundtable --help` and
`roundtable mcp --help` take.

The ROUNDTABLE_* variables of the calling shell are not passed on: the default configuration is
what is measured. Variants are measured deliberately, each as one more local mode, with
`--variant NAME=VALUE[,NAME=VALUE]` (e.g. `--variant ROUNDTABLE_MCP_FRONT=false` for the SDK
alone, `--variant ROUNDTABLE_MCP_TOOLS=journal`).

    python benchmarks/mcp_cold_start.py [--runs 20] [--variant ROUNDTABLE_MCP_FRONT=false]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from benchlib import (
    Interference,
    add_common_args,
    emit,
    latency_ms,
    log,
    machine_info,
    process_cpu_seconds,
    serve,
    temp_data_dir,
    wait_quiet,
)

TARGET_P50_MS = 500.0
CORE_TOOLS = {
    "start_session",
    "heartbeat",
    "end_session",
    "set_project",
    "get_project",
    "list_projects",
    "append_entry",
    "read_recent",
    "query_entries",
    "verify_journal",
    "rotate_journal",
    "get_proof",
    "wait_for_events",
}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "cold-start-bench", "version": "1"},
    },
}


def roundtable_exe() -> str:
    exe = Path(sys.executable).parent / "roundtable"
    return str(exe) if exe.exists() else "roundtable"


def cold_start(args: list[str], env: dict[str, str]) -> tuple[float, float, float, bytes]:
    """Seconds from spawning `roundtable mcp ARGS` to reading its `tools/list` answer, the CPU
    seconds the process had used by then (what a busy machine does not inflate), and seconds
    to the answer of a first `tools/call` sent after the list had been read."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [roundtable_exe(), "mcp", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    lines = [
        INITIALIZE,
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]
    proc.stdin.write(b"".join(json.dumps(line).encode() + b"\n" for line in lines))
    proc.stdin.flush()
    answer = _answer(proc, 2)
    elapsed = time.perf_counter() - started
    cpu = process_cpu_seconds(proc.pid)
    call = {"jsonrpc": "2.0", "id": 3, "method": "tools/call"}
    call["params"] = {"name": "list_projects", "arguments": {}}
    proc.stdin.write(json.dumps(call).encode() + b"\n")
    proc.stdin.flush()
    result = json.loads(_answer(proc, 3))
    if "result" not in result or result["result"].get("isError"):
        raise RuntimeError(f"roundtable mcp {args}: the first call failed: {result}")
    first_call = time.perf_counter() - started
    proc.stdin.close()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return elapsed, cpu, first_call, answer


def _answer(proc: subprocess.Popen[bytes], ident: int) -> bytes:
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"roundtable mcp exited before answering request {ident}")
        if json.loads(line).get("id") == ident:
            return line


def local_mode(runs: int, env: dict[str, str], label: str) -> tuple[dict[str, Any], bytes]:
    """Cold starts of the local server, each on the same fresh data directory (the first run
    creates the database and writes the bytecode caches, and is not counted)."""
    with temp_data_dir("cold") as data_dir:
        env = {**env, "ROUNDTABLE_AGENT": "bench", "ROUNDTABLE_DATA_DIR": str(data_dir)}
        cold_start([], env)
        log(f"timing {runs} cold starts of roundtable mcp ({label})")
        wall, cpu, first_call = [], [], []
        answer = b""
        for _ in range(runs):
            seconds, used, call, answer = cold_start([], env)
            wall.append(seconds)
            cpu.append(used)
            first_call.append(call)
    return {
        "tools_list": latency_ms(wall),
        "tools_list_process_cpu": latency_ms(cpu),
        "first_call": latency_ms(first_call),
        "tools": len(json.loads(answer)["result"]["tools"]),
    }, answer


def variant(text: str) -> dict[str, str]:
    pairs = dict(pair.split("=", 1) for pair in text.split(","))
    if not all(name.startswith("ROUNDTABLE_") for name in pairs):
        raise argparse.ArgumentTypeError("a variant sets ROUNDTABLE_* variables: NAME=VALUE,...")
    return pairs


def help_seconds(args: list[str], runs: int) -> dict[str, float | int]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([roundtable_exe(), *args], capture_output=True, check=True)
        samples.append(time.perf_counter() - started)
    return latency_ms(samples)


def sizes(answer: bytes) -> dict[str, Any]:
    tools = json.loads(answer)["result"]["tools"]
    core = [tool for tool in tools if tool["name"] in CORE_TOOLS]
    compact = json.dumps({"tools": core}, separators=(",", ":"))
    return {
        "tools": len(tools),
        "tools_list_response_bytes": len(answer),
        "core_tools": len(core),
        "core_tools_bytes": len(compact.encode()),
        "budget_bytes": 12 * 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="cold starts per mode")
    parser.add_argument(
        "--variant",
        type=variant,
        action="append",
        default=[],
        help="also time the local server with these variables: NAME=VALUE[,NAME=VALUE]",
    )
    add_common_args(parser)
    args = parser.parse_args()
    wait_quiet(args.wait_quiet)
    # The default configuration, whatever the calling shell has set (see the docstring).
    base = {k: v for k, v in os.environ.items() if not k.startswith("ROUNDTABLE_")}
    interference = Interference()
    interference.start()
    local, answer = local_mode(args.runs, base, "local database, default configuration")
    variants = {}
    for extra in args.variant:
        label = ",".join(f"{k}={v}" for k, v in extra.items())
        variants[label], _ = local_mode(args.runs, {**base, **extra}, label)

    with (
        temp_data_dir("cold-srv") as data_dir,
        serve({"ROUNDTABLE_DATA_DIR": str(data_dir)}) as server,
    ):
        token = httpx.post(
            f"{server.api()}/tokens", headers=server.headers, json={"agent": "bench"}
        ).json()["token"]
        token_file = data_dir / "bench.token"
        token_file.write_text(token)
        log(f"timing {args.runs} cold starts of roundtable mcp --url (bridge)")
        bridge, bridge_cpu, bridge_call = [], [], []
        bridge_args = ["--url", server.url, "--token-file", str(token_file)]
        for _ in range(args.runs):
            seconds, cpu, call, _ = cold_start(bridge_args, base)
            bridge.append(seconds)
            bridge_cpu.append(cpu)
            bridge_call.append(call)

    p50 = float(local["tools_list"]["p50"])
    emit(
        {
            "benchmark": "mcp_cold_start",
            "target_p50_ms": TARGET_P50_MS,
            "p50_ms": p50,
            "meets_target": p50 < TARGET_P50_MS,
            "local": local,
            "variants": variants,
            "bridge": {
                "tools_list": latency_ms(bridge),
                "tools_list_process_cpu": latency_ms(bridge_cpu),
                "first_call": latency_ms(bridge_call),
            },
            "help": {
                "roundtable --help": help_seconds(["--help"], 5),
                "roundtable mcp --help": help_seconds(["mcp", "--help"], 5),
            },
            "size": sizes(answer),
            "interference": interference.report(),
            "machine": machine_info(),
        }
    )


if __name__ == "__main__":
    main()
