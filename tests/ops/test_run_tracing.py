"""Trace context from an agent's call into the runs it starts: the run's `invoke_agent` span in
the runner is a child of the tool call (or request) that queued it, and the runner's reports
continue it on the server. The real server in a thread, the real runner loop in-process, the
SDK's in-memory exporter for both."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import httpx
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from roundtable import tracing
from roundtable.auth.tokens import ADMIN
from roundtable.orchestration.models import Mode
from roundtable.runner import Runner, RunnerConfig
from roundtable.runtime import Roundtable
from tests.live import LiveServer
from tests.mcp.harness import http, mint_token, ok
from tests.ops.test_tracing import PARENT, TRACE_ID, finished, spans
from tests.orchestration.conftest import NS, blueprint, runner

__all__ = ["spans"]  # the fixture, shared with test_tracing

COMPLETE = "POST /api/v1/runners/{runner_id}/runs/{run_id}/complete"


async def runs_of(client: httpx.AsyncClient, session_id: str, count: int) -> list[dict[str, Any]]:
    """The session's runs once `count` of them have completed."""
    for _ in range(600):
        runs = (await client.get(f"/sessions/{session_id}/runs")).json()["runs"]
        if sum(run["status"] == "completed" for run in runs) >= count:
            return list(runs)
        await asyncio.sleep(0.05)
    raise AssertionError(f"runs of {session_id} did not complete: {runs}")


def trace_id(span: Any) -> str:
    return format(span.context.trace_id, "032x")


async def test_a_tool_call_and_the_run_it_starts_share_one_trace(
    spans: InMemorySpanExporter, live_server: LiveServer
) -> None:
    api = live_server.api()
    async with httpx.AsyncClient(base_url=api, headers=live_server.headers) as admin:
        r = await admin.put(
            "/blueprints/worker", json={"name": "worker", "executor": {"kind": "echo"}}
        )
        assert r.status_code == 201, r.text
        async with http(live_server, mint_token(live_server, "caller")) as client:
            parent = await ok(client, "start_session")
            child = await ok(
                client,
                "start_agent_session",
                {"blueprint": "worker", "prompt": "hi", "session_id": parent["id"]},
            )
        config = RunnerConfig(
            url=live_server.url,
            token=live_server.admin_token,
            executors=("echo",),
            poll_wait=0.2,
            grace_seconds=5,
        )
        runner = Runner(config)
        task = asyncio.create_task(runner.run())
        try:
            await runs_of(admin, child["id"], 1)
            # A resume over HTTP, from a caller that traces: its run joins the caller's trace.
            resumed = await admin.post(
                f"/sessions/{child['id']}/resume",
                json={"prompt": "again"},
                headers={"traceparent": PARENT},
            )
            assert resumed.status_code == 200, resumed.text
            runs = await runs_of(admin, child["id"], 2)
        finally:
            runner.request_stop()
            await asyncio.wait_for(task, 30)
    first, second = sorted(runs, key=lambda run: run["created_at"])

    [tool] = finished(spans, "execute_tool start_agent_session")
    agents = finished(spans, "invoke_agent worker", count=2)
    by_run = {dict(span.attributes or {})["roundtable.run.id"]: span for span in agents}
    started = by_run[first["id"]]
    assert trace_id(started) == trace_id(tool)
    assert started.parent is not None and started.parent.span_id == tool.context.span_id
    attributes = dict(started.attributes or {})
    assert attributes["gen_ai.operation.name"] == "invoke_agent"
    assert attributes["gen_ai.agent.name"] == "worker"
    assert attributes["gen_ai.agent.id"] == child["id"]
    assert attributes["roundtable.run.status"] == "completed"
    # The runner's report carried the run's span: the server's handling continues it.
    reports = [s for s in finished(spans, COMPLETE, count=2) if trace_id(s) == trace_id(tool)]
    assert [s.parent.span_id for s in reports if s.parent] == [started.context.span_id]
    # The resumed run continues the trace of the request that resumed it.
    assert trace_id(by_run[second["id"]]) == TRACE_ID


async def test_callback_runs_inherit_the_trace_of_the_session(
    spans: InMemorySpanExporter, core: Roundtable
) -> None:
    """A callback queued outside any span (here: a report from an untraced runner; the sweeper
    alike) continues the trace of its session's latest traced run; untraced work stays so."""
    await blueprint(core, "echoer")
    worker = await runner(core)
    with tracing.span("execute_tool start_agent_session") as tool:
        parent = await core.orchestration.trees.start(NS, ADMIN, "echoer", {"prompt": "p"})
    [parent_run] = await worker.claim(1)
    assert parent_run.traceparent is not None
    assert parent_run.traceparent.split("-")[1:3] == [
        format(tool.context.trace_id, "032x"),
        format(tool.context.span_id, "016x"),
    ]
    child = await core.orchestration.trees.start(
        NS, ADMIN, "echoer", {"prompt": "c"}, mode=Mode.ASYNC_CALLBACK, parent_session_id=parent.id
    )
    [child_run] = await worker.claim(1)
    assert child_run.session_id == child.id and child_run.traceparent is None  # no span then
    await worker.complete(child_run.id)
    await worker.complete(parent_run.id)  # idle now: the waiting callback is delivered
    [callback] = await worker.claim(1)
    assert callback.kind == "callback" and callback.session_id == parent.id
    assert callback.traceparent == parent_run.traceparent


def test_a_runner_without_the_otel_extra_runs_untraced() -> None:
    """OTEL_* ask for tracing but the SDK is missing: a warning, and the runner goes on."""
    code = (
        "import sys\n"
        "sys.modules['opentelemetry.sdk'] = None  # the [otel] extra missing (the API comes with mcp)\n"
        "from roundtable import tracing\n"
        "from roundtable.runner.api import RunnerApi\n"
        "print(tracing.configure_from_env('roundtable-runner'), tracing.inject())\n"
        "with tracing.span('invoke_agent x', carrier={'traceparent': 'x'}) as s:\n"
        "    print(s)\n"
    )
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "console"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "{}", "None"]
    assert "[otel] extra is not installed" in done.stderr
