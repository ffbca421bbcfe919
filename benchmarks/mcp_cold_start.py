"""Cold start of `roundtable mcp` to its first `tools/list` answer, and that answer's size.

MCP clients (Claude Code, Codex) start every stdio server at each launch, so this is what a
user waits for (issue 14 target: p50 < 0.5 s). Each run starts a fresh process, writes
`initialize`, `notifications/initialized` and `tools/list` as JSON-RPC lines, and stops the
clock when the `tools/list` answer has been read. Two modes are timed: the local server (its
own SQLite database in a fresh data directory) and the bridge (`--url`) to a running
`roundtable serve`. Also reported: the bytes of `tools/list` (all tools, and the core journal,
session and event tools budgeted by tests/mcp/test_tool_list_size.py), and how long
`roundtable --help` and `roundtable mcp --help` take.

    python benchmarks/mcp_cold_start.py [--runs 20]
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


def cold_start(args: list[str], env: dict[str, str]) -> tuple[float, bytes]:
    """Seconds from spawning `roundtable mcp ARGS` to reading its `tools/list` answer."""
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
    answer = b""
    while True:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"roundtable mcp {args} exited before answering tools/list")
        if json.loads(line).get("id") == 2:
            answer = line
            break
    elapsed = time.perf_counter() - started
    proc.stdin.close()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return elapsed, answer


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
    add_common_args(parser)
    args = parser.parse_args()
    wait_quiet(args.wait_quiet)
    base = {k: v for k, v in os.environ.items() if not k.startswith("ROUNDTABLE_")}
    interference = Interference()
    interference.start()
    with temp_data_dir("cold") as data_dir:
        env = {**base, "ROUNDTABLE_AGENT": "bench", "ROUNDTABLE_DATA_DIR": str(data_dir)}
        cold_start([], env)  # the first run also writes the bytecode caches
        log(f"timing {args.runs} cold starts of roundtable mcp (local database)")
        local = []
        answer = b""
        for _ in range(args.runs):
            seconds, answer = cold_start([], env)
            local.append(seconds)

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
        bridge = []
        bridge_args = ["--url", server.url, "--token-file", str(token_file)]
        for _ in range(args.runs):
            seconds, _ = cold_start(bridge_args, base)
            bridge.append(seconds)

    local_ms = latency_ms(local)
    emit(
        {
            "benchmark": "mcp_cold_start",
            "target_p50_ms": TARGET_P50_MS,
            "p50_ms": local_ms["p50"],
            "meets_target": float(local_ms["p50"]) < TARGET_P50_MS,
            "local": local_ms,
            "bridge": latency_ms(bridge),
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
