"""Write capacity over HTTP with many agents, and the latency at half of it (group commit, D18).

For each operation, `set_project` (`PUT .../agents/{agent}/context`, each agent its own context,
passing the `expected_version` from its previous answer) and a single-entry `append`
(`POST .../projects/{project}/entries`, agents spread over `--projects` journals):

1. capacity: `--agents` agents in a closed loop (a new call as soon as the last one answered)
   for `--seconds`: completed calls per second is the capacity;
2. half load: an open loop offering half that rate, spread evenly over the agents, for
   `--seconds`; each call's latency counts from its scheduled time (no coordinated omission).

Every answer is checked (200/201; set_project's version = previous + 1). The server runs with
`synchronous=FULL` (the default; `--synchronous` to compare) as `roundtable serve` subprocesses:
`--instances 2` starts two sharing the data directory and database (PostgreSQL, or one SQLite
file), the agents split between them. The client is a minimal HTTP/1.1 keep-alive client on
asyncio streams (`benchlib.Http`), one connection per agent, so that the client (in this one
process) costs far less than the server per call. The server's group-commit counters (SQLite) come from
`/metrics`. Targets (issue 16): capacity >= 2,000 calls/s, p99 < 10 ms at half of it. Prints one
JSON object.

    python benchmarks/write_capacity.py [--agents 100] [--seconds 10] [--instances 1]
        [--operations set_project,append] [--database-url postgresql+asyncpg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from benchlib import (
    CpuMeter,
    Http,
    Interference,
    Server,
    add_common_args,
    backend_of,
    emit,
    latency_ms,
    log,
    machine_report,
    rounded,
    scratch_database,
    serve,
    temp_data_dir,
    wait_quiet,
)

TARGET_CAPACITY = 2_000.0
TARGET_P99_MS = 10.0


@dataclass
class Agent:
    name: str
    http: Http
    project: str
    version: int = 0
    calls: int = 0


@dataclass
class Phase:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0

    def count(self, status: int) -> None:
        self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1


Call = Callable[[Agent, Phase | None], Awaitable[None]]


def make_call(operation: str, projects: list[str]) -> Call:
    async def set_project(agent: Agent, phase: Phase | None) -> None:
        agent.calls += 1
        project = projects[(zlib.crc32(agent.name.encode()) + agent.calls) % len(projects)]
        status, body = await agent.http.request(
            "PUT",
            f"/api/v1/namespaces/default/agents/{agent.name}/context",
            {"project": project, "expected_version": agent.version},
        )
        if phase is not None:
            phase.count(status)
        if status != 200 or body["version"] != agent.version + 1:
            if phase is None:
                raise RuntimeError(f"set_project: {status} {body}")
            phase.errors += 1
        if status == 200:
            agent.version = body["version"]

    async def append(agent: Agent, phase: Phase | None) -> None:
        agent.calls += 1
        status, body = await agent.http.request(
            "POST",
            f"/api/v1/namespaces/default/projects/{agent.project}/entries",
            {"agent": agent.name, "message": f"{agent.name} note {agent.calls}", "meta": {}},
        )
        if phase is not None:
            phase.count(status)
        if status != 201:
            if phase is None:
                raise RuntimeError(f"append: {status} {body}")
            phase.errors += 1

    return set_project if operation == "set_project" else append


async def closed_loop(agents: list[Agent], call: Call, seconds: float) -> tuple[Phase, float]:
    phase = Phase()
    stop = time.perf_counter() + seconds

    async def run(agent: Agent) -> None:
        while time.perf_counter() < stop:
            sent = time.perf_counter()
            await call(agent, phase)
            phase.latencies.append(time.perf_counter() - sent)

    start = time.perf_counter()
    await asyncio.gather(*(run(agent) for agent in agents))
    return phase, time.perf_counter() - start


async def open_loop(
    agents: list[Agent], call: Call, rate: float, seconds: float
) -> tuple[Phase, float]:
    phase = Phase()
    interval = len(agents) / rate
    calls = max(1, int(seconds / interval))
    start = time.perf_counter() + 0.05

    async def run(n: int, agent: Agent) -> None:
        first = start + interval * n / len(agents)
        for i in range(calls):
            scheduled = first + i * interval
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await call(agent, phase)
            phase.latencies.append(time.perf_counter() - scheduled)

    await asyncio.gather(*(run(n, agent) for n, agent in enumerate(agents)))
    return phase, time.perf_counter() - start


async def group_commits(servers: list[Server]) -> dict[str, float]:
    """Sum of the servers' `roundtable_db_group_commit_writes` histograms (SQLite)."""
    totals = {"commits": 0.0, "writes": 0.0}
    for server in servers:
        http = Http(server.url, server.admin_token)
        await http.open()
        try:
            assert http.writer is not None and http.reader is not None
            http.writer.write(
                f"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: {http.auth}\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            text = (await http.reader.read()).decode()
        finally:
            await http.close()
        for line in text.splitlines():
            if line.startswith("roundtable_db_group_commit_writes_count"):
                totals["commits"] += float(line.split()[-1])
            elif line.startswith("roundtable_db_group_commit_writes_sum"):
                totals["writes"] += float(line.split()[-1])
    return totals


def group_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    commits = after["commits"] - before["commits"]
    writes = after["writes"] - before["writes"]
    return {
        "commits": commits,
        "writes": writes,
        "writes_per_commit": rounded(writes / commits, 2) if commits else 0.0,
    }


def phase_report(phase: Phase, elapsed: float) -> dict[str, Any]:
    return {
        "calls": len(phase.latencies),
        "per_s": rounded(len(phase.latencies) / elapsed, 1),
        "latency_ms": latency_ms(phase.latencies),
        "statuses": phase.statuses,
        "errors": phase.errors,
    }


async def measure(
    operation: str, servers: list[Server], args: argparse.Namespace, projects: list[str]
) -> dict[str, Any]:
    agents = [
        Agent(
            f"{operation}-{i:04d}",
            Http(servers[i % len(servers)].url, servers[0].admin_token),
            projects[i % len(projects)],
        )
        for i in range(args.agents)
    ]
    for agent in agents:
        await agent.http.open()
    call = make_call(operation, projects)
    try:
        for _ in range(args.warmup):
            await asyncio.gather(*(call(agent, None) for agent in agents))
        meters = [CpuMeter(server.pid) for server in servers]
        before = await group_commits(servers)
        interference = Interference(pids=[server.pid for server in servers])
        interference.start()
        for meter in meters:
            meter.start()
        capacity_phase, elapsed = await closed_loop(agents, call, args.seconds)
        server_cpu = sum(meter.stop() for meter in meters)
        capacity = len(capacity_phase.latencies) / elapsed
        loaded = await group_commits(servers)
        log(f"{operation}: capacity {capacity:.0f} calls/s")
        half_phase, half_elapsed = await open_loop(agents, call, capacity / 2, args.seconds)
        after = await group_commits(servers)
        other = interference.report()
        half = phase_report(half_phase, half_elapsed)
        log(f"{operation}: half load {half['per_s']}/s, p99 {half['latency_ms'].get('p99')} ms")
    finally:
        for agent in agents:
            await agent.http.close()
    p99 = float(half["latency_ms"]["p99"])
    return {
        "capacity_per_s": rounded(capacity, 1),
        "capacity_phase": {
            **phase_report(capacity_phase, elapsed),
            "server_cpu_ms_per_call": rounded(server_cpu * 1000 / len(capacity_phase.latencies)),
            "server_cpu_utilisation": rounded(server_cpu / elapsed),
            "group_commit": group_delta(before, loaded),
        },
        "half_load": {
            "offered_per_s": rounded(capacity / 2, 1),
            **half,
            "group_commit": group_delta(loaded, after),
        },
        "p99_ms_at_half_load": p99,
        "interference": other,
        "target": {
            "capacity_per_s_at_least": TARGET_CAPACITY,
            "p99_ms_below": TARGET_P99_MS,
            "capacity_ratio": rounded(capacity / TARGET_CAPACITY, 2),
            "p99_ratio": rounded(p99 / TARGET_P99_MS, 2),
            "met": capacity >= TARGET_CAPACITY
            and p99 < TARGET_P99_MS
            and not capacity_phase.errors
            and not half_phase.errors,
        },
    }


@contextlib.contextmanager
def servers(env: dict[str, str], count: int) -> Iterator[list[Server]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(serve(env, "subprocess")) for _ in range(count)]


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    busy = wait_quiet(args.wait_quiet) if args.wait_quiet > 0 else None
    load_before = os.getloadavg()
    results: dict[str, Any] = {}
    async with scratch_database(args.database_url) as database_url:
        with temp_data_dir("write-capacity", args.keep) as data_dir:
            env = {
                "ROUNDTABLE_DATA_DIR": str(data_dir),
                "ROUNDTABLE_HOST": "127.0.0.1",
                "ROUNDTABLE_WRITE_RATE_PER_SECOND": "1000000000",
                "ROUNDTABLE_WRITE_BURST": "1000000000",
                "ROUNDTABLE_SQLITE_SYNCHRONOUS": args.synchronous,
                "ROUNDTABLE_LOG_LEVEL": "WARNING",
            }
            if database_url is not None:
                env["ROUNDTABLE_DATABASE_URL"] = database_url
            with servers(env, args.instances) as running:
                log(f"{len(running)} server(s), {backend_of(database_url)}")
                projects = [f"bench-{i}" for i in range(args.projects)]
                http = Http(running[0].url, running[0].admin_token)
                await http.open()
                for name in projects:
                    status, body = await http.request(
                        "POST", "/api/v1/namespaces/default/projects", {"name": name}
                    )
                    if status != 201:
                        raise RuntimeError(f"create project: {status} {body}")
                await http.close()
                for operation in args.operations.split(","):
                    results[operation] = await measure(operation, running, args, projects)
    return {
        "benchmark": "write_capacity",
        "backend": backend_of(args.database_url),
        "instances": args.instances,
        "synchronous": args.synchronous,
        "options": {
            "agents": args.agents,
            "seconds": args.seconds,
            "projects": args.projects,
            "warmup": args.warmup,
        },
        **results,
        "machine": machine_report(busy, load_before),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=100, help="concurrent agents (100)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase (10)")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured calls per agent (3)")
    parser.add_argument("--projects", type=int, default=10, help="journals/projects used (10)")
    parser.add_argument("--instances", type=int, default=1, help="`roundtable serve` processes")
    parser.add_argument(
        "--operations", default="set_project,append", help="set_project, append, or both"
    )
    parser.add_argument("--synchronous", default="FULL", choices=("OFF", "NORMAL", "FULL", "EXTRA"))
    add_common_args(parser)
    emit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
