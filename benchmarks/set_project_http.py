"""set_project over HTTP under many concurrent agents (DESIGN target: p99 < 5 ms, 100 agents).

Starts the real server (`roundtable serve` as a subprocess by default), creates a few projects,
then runs three phases against `PUT /api/v1/namespaces/default/agents/{agent}/context`:

1. baseline: one agent, one call at a time (the unloaded latency of one set_project);
2. concurrent: `--agents` agents at once, each its own context, each doing `--calls` calls that
   pass the `expected_version` read from its previous response (closed loop: a new call as soon
   as the last one answered, unless `--rate` spreads a total offered rate over the agents);
3. every measured response is checked (200 with version = previous + 1; no 409s are expected
   because no two agents share a context).

Rate limits are raised so they never interfere. Prints one JSON object.

    python benchmarks/set_project_http.py [--agents 100] [--calls 50] [--rate 0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchlib import (
    CpuMeter,
    Interference,
    Server,
    add_common_args,
    backend_of,
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

TARGET_P99_MS = 5.0


@dataclass
class Phase:
    """Samples of one phase (seconds), plus what came back."""

    latencies: list[float] = field(default_factory=list)
    service: list[float] = field(default_factory=list)  # send -> answer, without schedule lag
    statuses: dict[str, int] = field(default_factory=dict)
    version_errors: int = 0

    def count(self, status: int) -> None:
        key = str(status)
        self.statuses[key] = self.statuses.get(key, 0) + 1


@dataclass
class Agent:
    name: str
    headers: dict[str, str]
    client: httpx.AsyncClient
    version: int = 0
    session_id: str | None = None


def server_env(data_dir: Path, database_url: str | None, agents: int) -> dict[str, str]:
    env = {
        "ROUNDTABLE_DATA_DIR": str(data_dir),
        "ROUNDTABLE_HOST": "127.0.0.1",
        # Rate and session limits high enough never to answer 429 during the benchmark.
        "ROUNDTABLE_WRITE_RATE_PER_SECOND": "1000000000",
        "ROUNDTABLE_WRITE_BURST": "1000000000",
        "ROUNDTABLE_MAX_SESSIONS_PER_AGENT": "1000",
        "ROUNDTABLE_MAX_SESSIONS_PER_NAMESPACE": str(max(10_000, agents * 10)),
    }
    if database_url is not None:
        env["ROUNDTABLE_DATABASE_URL"] = database_url
    return env


async def set_project(server: Server, agent: Agent, project: str) -> httpx.Response:
    body: dict[str, Any] = {"project": project, "expected_version": agent.version}
    if agent.session_id is not None:
        body["session_id"] = agent.session_id
    return await agent.client.put(
        f"{server.api()}/agents/{agent.name}/context", json=body, headers=agent.headers
    )


def absorb(agent: Agent, response: httpx.Response, phase: Phase | None) -> None:
    """Take the new version from a response (or, on 409, the current one it names)."""
    if phase is not None:
        phase.count(response.status_code)
    if response.status_code == 200:
        version = int(response.json()["version"])
        if version != agent.version + 1 and phase is not None:
            phase.version_errors += 1
        agent.version = version
    elif response.status_code == 409:
        agent.version = int(response.json()["data"]["current_version"])
    elif phase is None:
        raise RuntimeError(f"set_project failed: {response.status_code} {response.text}")


async def run_agent(
    server: Server,
    agent: Agent,
    projects: list[str],
    calls: int,
    phase: Phase,
    start_at: float,
    interval: float,
) -> None:
    """`calls` set_project calls; with `interval` > 0 each call is scheduled, and its latency
    counts from the scheduled time (no coordinated omission)."""
    offset = zlib.crc32(agent.name.encode()) % len(projects)
    for i in range(calls):
        scheduled = start_at + i * interval
        if interval > 0:
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        sent = time.perf_counter()
        response = await set_project(server, agent, projects[(offset + i) % len(projects)])
        done = time.perf_counter()
        phase.latencies.append(done - (scheduled if interval > 0 else sent))
        phase.service.append(done - sent)
        absorb(agent, response, phase)


async def setup(
    client: httpx.AsyncClient,
    server: Server,
    args: argparse.Namespace,
    clients: list[httpx.AsyncClient],
) -> tuple[list[Agent], list[str]]:
    projects = [f"bench-{i}" for i in range(args.projects)]
    for name in projects:
        response = await client.post(
            f"{server.api()}/projects",
            json={"name": name, "agent": "bench-admin"},
            headers=server.headers,
        )
        response.raise_for_status()
    agents = [
        Agent(f"agent-{i:04d}", server.headers, clients[i % len(clients)])
        for i in range(args.agents)
    ]
    if args.agent_tokens:
        for agent in agents:
            response = await client.post(
                f"{server.api()}/tokens", json={"agent": agent.name}, headers=server.headers
            )
            response.raise_for_status()
            agent.headers = {"Authorization": f"Bearer {response.json()['token']}"}
    if args.session:
        for agent in agents:
            response = await client.post(
                f"{server.api()}/sessions", json={"agent": agent.name}, headers=agent.headers
            )
            response.raise_for_status()
            agent.session_id = response.json()["id"]
    return agents, projects


async def benchmark(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    async with contextlib.AsyncExitStack() as stack:
        if args.shared_client:
            # One pooled client for every agent: httpx's pool bookkeeping then grows with the
            # number of connections and can make the client, not the server, the bottleneck.
            limits = httpx.Limits(
                max_connections=args.agents + 1, max_keepalive_connections=args.agents + 1
            )
            client = await stack.enter_async_context(
                httpx.AsyncClient(limits=limits, timeout=120.0)
            )
            clients = [client]
        else:
            # Each agent its own client and keep-alive connection, as separate agents have.
            client = await stack.enter_async_context(httpx.AsyncClient(timeout=120.0))
            clients = [
                await stack.enter_async_context(httpx.AsyncClient(timeout=120.0))
                for _ in range(args.agents)
            ]
        agents, projects = await setup(client, server, args, clients)

        # Phase 1: one agent, one call at a time.
        baseline = Phase()
        solo = Agent("agent-solo", server.headers, client)
        for i in range(args.warmup):
            absorb(solo, await set_project(server, solo, projects[i % len(projects)]), None)
        for i in range(args.baseline_calls):
            sent = time.perf_counter()
            response = await set_project(server, solo, projects[i % len(projects)])
            baseline.latencies.append(time.perf_counter() - sent)
            absorb(solo, response, baseline)
        log(f"baseline: {latency_ms(baseline.latencies)}")

        # Warm-up: every agent opens its connection and creates its context row.
        async def warm(agent: Agent) -> None:
            for i in range(args.warmup):
                absorb(agent, await set_project(server, agent, projects[i % 2]), None)

        await asyncio.gather(*(warm(agent) for agent in agents))

        # Phase 2: all agents at once.
        phase = Phase()
        interval = args.agents / args.rate if args.rate > 0 else 0.0
        server_cpu, client_cpu = CpuMeter(server.pid), CpuMeter()
        interference = Interference(pids=[server.pid])
        interference.start()
        server_cpu.start()
        client_cpu.start()
        start = time.perf_counter()
        tasks = []
        for n, agent in enumerate(agents):
            stagger = interval * n / len(agents)
            tasks.append(
                run_agent(server, agent, projects, args.calls, phase, start + stagger, interval)
            )
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
        server_used, client_used = server_cpu.stop(), client_cpu.stop()
        other = interference.report()

        # Phase 3 (--half-load): an open loop offering half the closed loop's throughput.
        half: dict[str, Any] | None = None
        if args.half_load and args.rate <= 0:
            offered = len(phase.latencies) / elapsed / 2
            slow = Phase()
            start = time.perf_counter() + 0.05
            every = len(agents) / offered
            await asyncio.gather(
                *(
                    run_agent(
                        server,
                        a,
                        projects,
                        args.calls // 2 or 1,
                        slow,
                        start + every * n / len(agents),
                        every,
                    )
                    for n, a in enumerate(agents)
                )
            )
            half = {
                "offered_per_s": rounded(offered, 1),
                "latency_ms": latency_ms(slow.latencies),
                "statuses": slow.statuses,
                "version_errors": slow.version_errors,
            }

    total = len(phase.latencies)
    ok = phase.statuses.get("200", 0)
    stats = latency_ms(phase.latencies)
    result: dict[str, Any] = {
        # Headline: the concurrent phase.
        "p50_ms": stats.get("p50"),
        "p99_ms": stats.get("p99"),
        "mean_ms": stats.get("mean"),
        "throughput_per_s": rounded(total / elapsed, 1),
        "baseline_one_agent_ms": latency_ms(baseline.latencies),
        "concurrent": {
            "agents": args.agents,
            "calls_per_agent": args.calls,
            "mode": f"open loop, {args.rate:g} req/s offered" if args.rate > 0 else "closed loop",
            "latency_ms": stats,
            **(
                {"service_time_ms": latency_ms(phase.service)}
                if args.rate > 0
                else {"mean_in_flight": rounded(sum(phase.latencies) / elapsed, 1)}
            ),
            "elapsed_s": rounded(elapsed),
            "throughput_per_s": rounded(total / elapsed, 1),
            "statuses": phase.statuses,
            "version_errors": phase.version_errors,
            "server_cpu_ms_per_call": rounded(server_used * 1000 / total)
            if server.mode == "subprocess"
            else None,
            "server_cpu_utilisation": rounded(server_used / elapsed)
            if server.mode == "subprocess"
            else None,
            "client_cpu_ms_per_call": rounded(client_used * 1000 / total),
            "interference": other,
        },
        "target": {
            "p99_ms_below": TARGET_P99_MS,
            "met": ok == total and float(stats["p99"]) < TARGET_P99_MS,
        },
    }
    if half is not None:
        # Capacity = the closed loop's throughput; the issue-16 target is p99 < 10 ms at half.
        result["half_load"] = half
    return result


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    busy = wait_quiet(args.wait_quiet) if args.wait_quiet > 0 else None
    async with scratch_database(args.database_url) as database_url:
        with temp_data_dir("set-project", args.keep) as data_dir:
            env = server_env(data_dir, database_url, args.agents)
            with serve(env, args.server) as server:
                log(f"server {server.url} ({args.server}, {backend_of(database_url)})")
                result = await benchmark(server, args)
    return {
        "benchmark": "set_project_http",
        "backend": backend_of(args.database_url),
        "server": args.server,
        "options": {
            "agents": args.agents,
            "calls": args.calls,
            "warmup": args.warmup,
            "projects": args.projects,
            "rate": args.rate,
            "half_load": args.half_load,
            "session": args.session,
            "agent_tokens": args.agent_tokens,
            "shared_client": args.shared_client,
        },
        **result,
        "machine": {**machine_info(), "busy_share_before": busy},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=100, help="concurrent agents (100)")
    parser.add_argument("--calls", type=int, default=50, help="measured calls per agent (50)")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured calls per agent (3)")
    parser.add_argument("--projects", type=int, default=10, help="projects to switch among")
    parser.add_argument(
        "--baseline-calls", type=int, default=200, help="sequential one-agent calls (200)"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="total offered calls/s spread evenly over the agents (0: closed loop, as fast as "
        "answers come back)",
    )
    parser.add_argument(
        "--half-load",
        action="store_true",
        help="after the closed loop (whose throughput is the capacity), offer half of it in "
        "an open loop and report its latency (`half_load`)",
    )
    parser.add_argument(
        "--session", action="store_true", help="each agent starts a session and passes its id"
    )
    parser.add_argument(
        "--agent-tokens",
        action="store_true",
        help="each agent uses its own minted JWT instead of the admin token",
    )
    parser.add_argument(
        "--shared-client",
        action="store_true",
        help="one pooled httpx client for all agents instead of one client per agent",
    )
    parser.add_argument("--server", choices=("subprocess", "thread"), default="subprocess")
    add_common_args(parser)
    emit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
