"""OpenTelemetry spans, checked with the SDK's in-memory exporter against the real server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from roundtable import tracing
from roundtable.api.app import create_app
from roundtable.config import Settings
from tests.live import LiveServer
from tests.mcp.harness import http, mint_token, ok

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        yield exporter
    finally:
        tracing.uninstall()
        provider.shutdown()


def named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


def finished(exporter: InMemorySpanExporter, name: str, count: int = 1) -> list[ReadableSpan]:
    """The spans called `name` once `count` have ended: a server span ends in the server's
    thread just after the response went out, so the client may get there first."""
    deadline = time.monotonic() + 30
    while len(found := named(exporter, name)) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return found


def test_an_http_request_is_a_server_span_continuing_the_callers_trace(
    spans: InMemorySpanExporter, live_server: LiveServer
) -> None:
    headers = {**live_server.headers, "traceparent": PARENT}
    with httpx.Client(base_url=live_server.api(), headers=headers) as client:
        assert client.post("/projects", json={"name": "traced"}).status_code == 201
        r = client.post("/projects/traced/entries", json={"agent": "a", "message": "m"})
        assert r.status_code == 201
    route = "/api/v1/namespaces/{namespace}/projects/{project}/entries"
    [span] = finished(spans, f"POST {route}")
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert span.parent is not None and format(span.parent.span_id, "016x") == "00f067aa0ba902b7"
    attributes = dict(span.attributes or {})
    assert attributes["http.route"] == route
    assert attributes["http.response.status_code"] == 201
    assert attributes["roundtable.namespace"] == "default"
    assert attributes["roundtable.project"] == "traced"
    assert "Bearer" not in str(attributes)


async def test_a_tool_call_is_an_execute_tool_span_with_the_callers_ids(
    spans: InMemorySpanExporter, live_server: LiveServer
) -> None:
    async with http(live_server, mint_token(live_server, "tracer")) as client:
        session = await ok(client, "start_session")
        await ok(client, "set_project", {"project": "tp", "create": True})
        await ok(client, "append_entry", {"message": "m", "session_id": session["id"]})
        result = await client.call_tool("set_project", {"project": "tp", "expected_version": 9})
        assert result.is_error
    [append] = finished(spans, "execute_tool append_entry")
    finished(spans, "POST /mcp", count=5)  # initialize, 4 tool calls (and notifications)
    attributes = dict(append.attributes or {})
    assert attributes["gen_ai.operation.name"] == "execute_tool"
    assert attributes["gen_ai.tool.name"] == "append_entry"
    assert attributes["gen_ai.agent.name"] == attributes["roundtable.agent"] == "tracer"
    assert attributes["gen_ai.conversation.id"] == session["id"]
    assert attributes["roundtable.session.id"] == session["id"]
    assert attributes["roundtable.namespace"] == "default"
    # The tool span is a child of the HTTP request that carried it.
    [request] = [
        s
        for s in named(spans, "POST /mcp")
        if s.context.trace_id == append.context.trace_id and append.parent is not None
        if s.context.span_id == append.parent.span_id
    ]
    assert request.attributes is not None and request.attributes["http.route"] == "/mcp"
    [conflict] = named(spans, "execute_tool set_project")[-1:]
    assert dict(conflict.attributes or {})["error.type"] == "conflict"
    assert not conflict.status.is_ok


def test_work_queued_with_an_injected_context_joins_the_trace(
    spans: InMemorySpanExporter,
) -> None:
    """What a run started by a tool call does: store `inject()`, continue from it later."""
    with tracing.call_scope(), tracing.span("execute_tool start_agent_session") as tool:
        tracing.annotate(agent="parent", session="s-1")
        carrier = tracing.inject()
    assert carrier["traceparent"].split("-")[1] == format(tool.context.trace_id, "032x")
    with tracing.span("run", carrier=carrier) as run:
        pass
    assert run.context.trace_id == tool.context.trace_id
    assert run.parent is not None and run.parent.span_id == tool.context.span_id


def test_tracing_is_off_unless_the_standard_variables_ask() -> None:
    assert tracing.exporters_from_env({}) == []
    assert tracing.exporters_from_env({"OTEL_TRACES_EXPORTER": "none"}) == []
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    assert tracing.exporters_from_env(endpoint) == ["otlp"]
    assert tracing.exporters_from_env({**endpoint, "OTEL_SDK_DISABLED": "true"}) == []
    both = {"OTEL_TRACES_EXPORTER": "otlp, console"}
    assert tracing.exporters_from_env(both) == ["otlp", "console"]
    assert not tracing.enabled()
    with tracing.span("nothing") as off:
        assert off is None
    assert tracing.inject() == {}


def test_fastapis_own_telemetry_is_off(tmp_path: Path) -> None:
    """The server's spans are its own (one per request): FastAPI's built-in instrumentation,
    where the installed FastAPI has one, would add a second once tracing sets the global
    provider."""
    app = create_app(Settings(data_dir=tmp_path), sweeper=False)
    telemetry = getattr(app, "_telemetry", None)
    if telemetry is not None:
        assert not (telemetry["tracing"] or telemetry["metrics"] or telemetry["logs"])
