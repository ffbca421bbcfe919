"""The runner's own loop (claim, report, heartbeat stops, outages, shutdown) against a scripted
stand-in for the runner protocol, in-process. The real server is exercised by the `*_e2e` tests;
this pins down the runner's side of each situation deterministically and fast."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx

from roundtable.runner import Runner, RunnerConfig
from roundtable.runner.api import RunnerApi


def run_json(n: int, config: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": f"run-{n}",
        "session_id": f"s-{n}",
        "namespace": "default",
        "kind": "start",
        "attempt": 1,
        "input": {"prompt": f"p{n}"},
        "run_token": "t",
        "blueprint": {"name": "bp", "executor": {"kind": "echo", "config": config or {}}},
    }


class Protocol:
    """Answers the runner routes from memory; `down` makes every call fail to connect."""

    def __init__(self) -> None:
        self.queue: list[dict[str, Any]] = []
        self.reports: list[tuple[str, str]] = []  # (run id, what)
        self.results: dict[str, Any] = {}
        self.stop: set[str] = set()
        self.refuse: set[str] = set()  # run ids whose outcome report gets 409
        self.refuse_start: set[str] = set()  # ... and whose `started` report too
        self.down = False
        self.calls: list[str] = []
        self.batches = True  # False: an older server, without `reports`
        self.batch_sizes: list[int] = []

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        parts = request.url.path.split("/")[4:]  # after /api/v1/runners/
        body = json.loads(request.content) if request.content else {}
        what = parts[-1] if parts else "register"
        self.calls.append(what if len(parts) != 1 or request.method != "DELETE" else "delete")
        if request.method == "POST" and not parts:
            reply = {"id": "r1", "token": "rt", "heartbeat_seconds": 0.05, "run_lease_seconds": 60}
            return httpx.Response(201, json=reply)
        if request.method == "DELETE":
            return httpx.Response(204)
        if what == "claim":
            if not self.queue:
                await asyncio.sleep(min(body["wait"], 0.02))
            runs, self.queue = self.queue[: body["max"]], self.queue[body["max"] :]
            return httpx.Response(200, json={"runs": runs})
        if what == "heartbeat":
            return httpx.Response(
                200, json={"stop": sorted(self.stop), "runs_renewed": body["running"]}
            )
        if what == "reports":
            if not self.batches:
                return httpx.Response(404, json={"detail": "Not Found"})
            self.batch_sizes.append(len(body["reports"]))
            results = []
            for item in body["reports"]:
                kind = next(key for key in item if key != "run_id")
                results.append(self._report(item["run_id"], kind, item[kind]))
            return httpx.Response(200, json={"results": results})
        result = self._report(parts[2], what, body)
        if result.get("error"):
            return httpx.Response(409, json={**result["error"], "status": 409})
        return httpx.Response(200, json={"stop": parts[2] in self.stop, "id": parts[2]})

    def _report(self, run_id: str, what: str, body: Any) -> dict[str, Any]:
        if run_id in self.refuse and (what != "started" or run_id in self.refuse_start):
            return {"run_id": run_id, "error": {"code": "conflict", "message": "not yours"}}
        self.reports.append((run_id, what))
        if what == "complete":
            self.results[run_id] = body["result_data"]
        return {"run_id": run_id, "status": what}

    def outcomes(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for run_id, what in self.reports:
            found.setdefault(run_id, []).append(what)
        return found


def runner(protocol: Protocol, **options: Any) -> Runner:
    config = RunnerConfig(
        url="http://server.test",
        token="admin",
        executors=("echo",),
        poll_wait=0.05,
        max_backoff=0.05,
        **options,
    )
    api = RunnerApi(config.url, config.token, transport=httpx.MockTransport(protocol.handle))
    return Runner(config, api=api)


async def until(check: Callable[[], bool], within: float = 10.0) -> None:
    """Poll a condition on the fake's state (it has no event to wait on), failing after `within`."""
    for _ in range(int(within / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_claims_runs_reports_each_once_and_unregisters() -> None:
    protocol = Protocol()
    protocol.queue = [run_json(n, {"progress": 1}) for n in range(5)]
    r = runner(protocol, capacity=2)
    task = asyncio.create_task(r.run())
    await until(lambda: len(protocol.results) == 5)
    r.request_stop()
    await asyncio.wait_for(task, 10)
    outcomes = protocol.outcomes()
    assert all(outcomes[f"run-{n}"] == ["started", "progress", "complete"] for n in range(5))
    assert protocol.results["run-3"] == {"echo": {"prompt": "p3"}}
    assert protocol.calls[-1] == "delete"


async def test_runs_ending_together_are_reported_in_one_call() -> None:
    protocol = Protocol()
    protocol.queue = [run_json(n) for n in range(12)]
    r = runner(protocol, capacity=12)
    task = asyncio.create_task(r.run())
    await until(lambda: len(protocol.results) == 12)
    r.request_stop()
    await asyncio.wait_for(task, 10)
    # A lone end goes the single way (it carries its run's trace); ends that pile up meanwhile
    # go together.
    singles = protocol.calls.count("complete")
    assert sum(protocol.batch_sizes) + singles == 12
    assert max(protocol.batch_sizes) > 1
    assert all(protocol.outcomes()[f"run-{n}"] == ["started", "complete"] for n in range(12))


async def test_an_older_server_without_batched_reports_gets_single_reports() -> None:
    protocol = Protocol()
    protocol.batches = False
    protocol.queue = [run_json(n) for n in range(4)]
    protocol.refuse = {"run-2"}
    r = runner(protocol, capacity=4)
    task = asyncio.create_task(r.run())
    await until(lambda: len(protocol.results) == 3)
    r.request_stop()
    await asyncio.wait_for(task, 10)
    assert protocol.calls.count("reports") == 1  # tried once, then one report per call
    assert protocol.calls.count("complete") == 4
    assert sorted(protocol.results) == ["run-0", "run-1", "run-3"]


async def test_outcome_reported_after_an_outage() -> None:
    protocol = Protocol()
    protocol.queue = [run_json(1, {"sleep": 0.2})]
    r = runner(protocol)
    task = asyncio.create_task(r.run())
    await until(lambda: protocol.outcomes().get("run-1") == ["started"])
    protocol.down = True  # the run finishes while the server is away
    await asyncio.sleep(0.5)
    assert "run-1" in r.active, "the runner dropped its running work during the outage"
    protocol.down = False
    await until(lambda: "run-1" in protocol.results)
    r.request_stop()
    await asyncio.wait_for(task, 10)
    assert protocol.outcomes()["run-1"] == ["started", "complete"]


async def test_heartbeat_stop_reaches_the_executor() -> None:
    protocol = Protocol()
    protocol.queue = [run_json(1, {"sleep": 60})]
    r = runner(protocol)
    task = asyncio.create_task(r.run())
    await until(lambda: protocol.outcomes().get("run-1") == ["started"])
    protocol.stop.add("run-1")
    await until(lambda: protocol.outcomes()["run-1"][-1] == "stopped")
    r.request_stop()
    await asyncio.wait_for(task, 10)


async def test_shutdown_stops_what_outlives_the_grace_period_then_unregisters() -> None:
    protocol = Protocol()
    protocol.queue = [run_json(1, {"sleep": 60}), run_json(2, {"sleep": 0.05})]
    r = runner(protocol, grace_seconds=0.3)
    task = asyncio.create_task(r.run())
    await until(lambda: len(protocol.reports) >= 2)
    r.request_stop()
    await asyncio.wait_for(task, 10)
    outcomes = protocol.outcomes()
    assert outcomes["run-1"] == ["started", "stopped"]
    assert outcomes["run-2"] == ["started", "complete"]
    assert protocol.calls[-1] == "delete"


async def test_a_refused_report_is_dropped_not_retried_forever() -> None:
    protocol = Protocol()
    protocol.queue = [run_json(1), run_json(2)]
    protocol.refuse.add("run-1")
    r = runner(protocol)
    task = asyncio.create_task(r.run())
    await until(lambda: "run-2" in protocol.results and not r.active)
    r.request_stop()
    await asyncio.wait_for(task, 10)
    assert protocol.outcomes()["run-1"] == ["started"]


async def test_a_run_whose_start_is_refused_is_not_executed() -> None:
    protocol = Protocol()
    protocol.queue = [run_json(1, {"progress": 1}), run_json(2)]
    protocol.refuse |= {"run-1"}
    protocol.refuse_start |= {"run-1"}
    r = runner(protocol)
    task = asyncio.create_task(r.run())
    await until(lambda: "run-2" in protocol.results and not r.active)
    r.request_stop()
    await asyncio.wait_for(task, 10)
    assert "run-1" not in protocol.outcomes(), "a run the server took back was executed"


async def test_registers_once_the_server_comes_up() -> None:
    protocol = Protocol()
    protocol.down = True
    protocol.queue = [run_json(1)]
    r = runner(protocol)
    task = asyncio.create_task(r.run())
    await asyncio.sleep(0.3)
    protocol.down = False
    await until(lambda: "run-1" in protocol.results)
    r.request_stop()
    await asyncio.wait_for(task, 10)
