"""Two `roundtable serve` processes on one PostgreSQL database, four runners polling both:
2,000 runs, none claimed twice, none lost."""

from __future__ import annotations

import asyncio
import collections
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from roundtable.config import Settings
from tests.live import LiveServer, subprocess_server
from tests.runner import cluster
from tests.runner.cluster import FAST

# No kills here: ordinary leases, so a loaded machine cannot make a lease lapse and legitimately
# hand a run to a second runner (the tree tests cover requeues).
ENV = {k: v for k, v in FAST.items() if "LEASE" not in k and "HEARTBEAT" not in k}

RUNS = 2_000
RUNNERS = 4
STARTED = re.compile(r"run (\S+) \(\w+, [^,]*, attempt (\d+)\) started")
COMPLETED = re.compile(r"run (\S+) completed")


async def create_all(servers: list[LiveServer]) -> dict[str, str]:
    """Start RUNS sessions through both servers; session id -> its prompt."""
    created: dict[str, str] = {}
    gate = asyncio.Semaphore(32)
    clients = [httpx.AsyncClient(base_url=s.api(), headers=s.headers, timeout=60) for s in servers]

    async def one(n: int) -> None:
        prompt = f"job {n}"
        async with gate:
            r = await clients[n % 2].post(
                "/agent-sessions",
                json={"blueprint": "quick", "parameters": {"prompt": prompt}, "mode": "async_poll"},
            )
        assert r.status_code == 201, r.text
        created[r.json()["id"]] = prompt

    try:
        await asyncio.gather(*(one(n) for n in range(RUNS)))
    finally:
        for client in clients:
            await client.aclose()
    return created


async def runs_of(server: LiveServer, sessions: list[str]) -> dict[str, list[dict[str, Any]]]:
    gate = asyncio.Semaphore(32)
    found: dict[str, list[dict[str, Any]]] = {}
    async with httpx.AsyncClient(base_url=server.api(), headers=server.headers, timeout=60) as c:

        async def one(sid: str) -> None:
            async with gate:
                r = await c.get(f"/sessions/{sid}/runs")
            assert r.status_code == 200, r.text
            found[sid] = r.json()["runs"]

        await asyncio.gather(*(one(sid) for sid in sessions))
    return found


def log_ids(group: cluster.Runners, pattern: re.Pattern[str]) -> collections.Counter[Any]:
    """How often each match (a run id, or (run id, attempt)) appears in the runners' logs."""
    counts: collections.Counter[Any] = collections.Counter()
    for runner in group.started:
        counts.update(pattern.findall(runner.text()))
    return counts


@pytest.mark.slow
@pytest.mark.only_backend("postgresql")  # instances share a database only on PostgreSQL
def test_two_instances_four_runners_no_run_twice_none_lost(
    settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "servers.log"
    with (
        subprocess_server(settings, log, **ENV) as one,
        subprocess_server(settings, log, **ENV) as two,
        cluster.runners(tmp_path) as group,
        cluster.api(one) as client,
    ):
        cluster.put_blueprint(client, {"name": "quick", "executor": {"kind": "echo"}})
        servers = [one, two]
        for n in range(RUNNERS):
            server = servers[n % 2]
            group.start(server.url, server.admin_token, f"r{n}", capacity=16, executors="echo")
        created = asyncio.run(create_all(servers))
        assert len(created) == RUNS

        cluster.wait_until(
            f"{RUNS} runs to complete",
            lambda: len(log_ids(group, COMPLETED)) >= RUNS,
            timeout=300,
            every=1.0,
        )
        started = log_ids(group, STARTED)
        twice = {claim: n for claim, n in started.items() if n > 1}
        assert not twice, f"(run, attempt) started more than once: {list(twice.items())[:5]}"

        found = asyncio.run(runs_of(two, list(created)))
        run_ids = set()
        for sid, runs in found.items():
            assert len(runs) == 1, (sid, runs)
            run = runs[0]
            assert run["status"] == "completed" and run["attempt"] == 1, run
            assert run["result_data"] == {"echo": {"prompt": created[sid]}}, run
            run_ids.add(run["id"])
        assert run_ids == {run_id for run_id, _ in started}, (
            "the runners' runs and the server's differ"
        )
