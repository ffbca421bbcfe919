"""`/metrics` after a known workload: the counters and histogram counts it implies, access
control, the loopback-only port, bounded labels, and multiprocess mode.

The in-thread server shares this process's registry with earlier tests, so every assertion is
about the difference between a scrape before and one after the workload.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from roundtable.config import Settings
from tests import live
from tests.api.conftest import Serve, mint
from tests.mcp.harness import fail, http, mint_token, ok, stdio
from tests.ops.scrape import Series, parse, scrape, total, value
from tests.pg import free_port

ROUTE_ENTRIES = "/api/v1/namespaces/{namespace}/projects/{project}/entries"
ROUTE_CONTEXT = "/api/v1/namespaces/{namespace}/agents/{agent}/context"


def http_count(series: Series, method: str, route: str, status: str) -> float:
    return value(
        series,
        "roundtable_http_request_duration_seconds_count",
        method=method,
        route=route,
        status=status,
    )


def delta(after: Series, before: Series, name: str, **labels: str) -> float:
    return total(after, name, **labels) - total(before, name, **labels)


def test_metrics_after_a_known_workload(serve: Serve) -> None:
    with serve(write_burst=10, write_rate_per_second=0.001, checkpoint_every_entries=4) as server:
        url = f"{server.url}/metrics"
        before = scrape(url, server.headers)
        with httpx.Client(base_url=server.api(), headers=server.headers) as client:
            assert client.post("/projects", json={"name": "m"}).status_code == 201
            for i in range(5):
                r = client.post("/projects/m/entries", json={"agent": "a", "message": f"e{i}"})
                assert r.status_code == 201
            batch = [{"message": f"b{i}"} for i in range(3)]
            r = client.post("/projects/m/entries", json={"agent": "a", "entries": batch})
            assert r.status_code == 201
            assert client.put("/agents/a/context", json={"project": "m"}).status_code == 200
            stale = client.put("/agents/a/context", json={"project": "m", "expected_version": 0})
            assert stale.status_code == 409
            refused = 0
            for i in range(11):  # burst 10, no refill to speak of: the 11th is refused
                r = client.post("/projects/m/entries", json={"agent": "b", "message": f"x{i}"})
                refused += r.status_code == 429
            assert refused == 1
            assert client.get("/no/such/page").status_code == 404
        after = scrape(url, server.headers)

    def d(name: str, **labels: str) -> float:
        return delta(after, before, name, **labels)

    assert d("roundtable_journal_appends_total") == 5 + 1 + 10
    assert d("roundtable_journal_entries_appended_total") == 5 + 3 + 10
    assert d("roundtable_conflicts_total") == 1
    assert d("roundtable_rate_limited_total", limit="write_rate") == 1
    assert http_count(after, "POST", ROUTE_ENTRIES, "201") - http_count(
        before, "POST", ROUTE_ENTRIES, "201"
    ) == (5 + 1 + 10)
    assert (
        http_count(after, "POST", ROUTE_ENTRIES, "429")
        - http_count(before, "POST", ROUTE_ENTRIES, "429")
        == 1
    )
    assert (
        http_count(after, "PUT", ROUTE_CONTEXT, "409")
        - http_count(before, "PUT", ROUTE_CONTEXT, "409")
        == 1
    )
    assert d("roundtable_http_request_duration_seconds_count", route="<unmatched>") == 1
    # Every write transaction is timed, and waited for its lock (at least one per write).
    writes = d("roundtable_db_write_transaction_duration_seconds_count")
    assert writes >= 5 + 1 + 10 + 1 + 1  # appends, project, context
    assert d("roundtable_db_write_lock_wait_seconds_count") == writes
    assert d("roundtable_journal_head_lock_wait_seconds_count") == 5 + 1 + 10
    # The journal gauges, read from the database at scrape time: 18 entries, checkpoints
    # every 4 (so the newest signed one is at 16), and an age that is a real number.
    journal = {"namespace": "default", "project": "m"}
    assert value(after, "roundtable_journal_entries", **journal) == 18
    assert value(after, "roundtable_journal_unsigned_entries", **journal) == 2
    assert 0 <= value(after, "roundtable_journal_checkpoint_age_seconds", **journal) < 3600


def test_metrics_need_the_admin_token_or_the_loopback_port(
    serve: Serve, settings: Settings
) -> None:
    port = free_port()
    with serve(metrics_port=port) as server:
        assert httpx.get(f"{server.url}/metrics").status_code == 401
        agent = httpx.get(f"{server.url}/metrics", headers=mint(server, "nosy"))
        assert agent.status_code == 403
        plain = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30)
        assert plain.status_code == 200
        assert "roundtable_http_request_duration_seconds" in plain.text
        assert "roundtable_journal_appends_total" in plain.text
        assert httpx.get(f"http://127.0.0.1:{port}/other", timeout=30).status_code == 404


@pytest.mark.slow
@pytest.mark.only_backend("sqlite")
def test_label_sets_stay_bounded_after_a_thousand_agents(serve: Serve) -> None:
    """Agent names never become label values: 1,000 agents add no series after the first."""
    with serve() as server:
        url = f"{server.url}/metrics"

        async def append(client: httpx.AsyncClient, agents: range) -> None:
            for n in agents:
                r = await client.post(
                    "/projects/c/entries",
                    json={"agent": f"agent-{n:04d}", "message": "hi", "meta": {"n": n}},
                )
                assert r.status_code == 201, r.text

        async def workload() -> None:
            async with httpx.AsyncClient(
                base_url=server.api(), headers=server.headers, timeout=60
            ) as client:
                assert (await client.post("/projects", json={"name": "c"})).status_code == 201
                await append(client, range(2))
                scrape(url, server.headers)  # the scrape's own request gets its series
                first = scrape(url, server.headers)
                await asyncio.gather(*(append(client, range(k, 1000, 8)) for k in range(2, 10)))
                after = scrape(url, server.headers)
                assert set(after) == set(first)
                labels = {v for (_, ls) in after for _, v in ls}
                assert not any(v.startswith("agent-") for v in labels)

        asyncio.run(workload())


async def test_mcp_tool_latency_by_tool_and_outcome(live_server: live.LiveServer) -> None:
    url = f"{live_server.url}/metrics"
    before = scrape(url, live_server.headers)
    async with http(live_server, mint_token(live_server, "toolie")) as client:
        await ok(client, "set_project", {"project": "tools", "create": True})
        for i in range(3):
            await ok(client, "append_entry", {"message": f"m{i}"})
        await fail(client, "set_project", {"project": "tools", "expected_version": 7}, "conflict")
        await fail(client, "append_entry", {"message": "x", "bogus": 1}, "invalid_input")
    after = scrape(url, live_server.headers)
    name = "roundtable_mcp_tool_duration_seconds_count"

    def d(**labels: str) -> float:
        return delta(after, before, name, transport="http", **labels)

    assert d(tool="append_entry", outcome="ok") == 3
    assert d(tool="append_entry", outcome="invalid_input") == 1
    assert d(tool="set_project", outcome="ok") == 1
    assert d(tool="set_project", outcome="conflict") == 1
    assert delta(after, before, "roundtable_conflicts_total") == 1


@pytest.mark.only_backend("sqlite")
def test_multiprocess_mode_sums_every_process(settings: Settings, tmp_path: Path) -> None:
    """Two `roundtable serve` processes and a `roundtable mcp` sharing PROMETHEUS_MULTIPROC_DIR:
    either server's /metrics reports the appends all three made (a stdio server records only
    in this mode: otherwise nothing could read its numbers)."""
    shared = tmp_path / "prom"
    shared.mkdir()
    log = tmp_path / "serve.log"
    env = {"PROMETHEUS_MULTIPROC_DIR": str(shared)}
    with (
        live.subprocess_server(settings, log, **env) as one,
        live.subprocess_server(settings, log, **env) as two,
    ):
        assert httpx.post(
            f"{one.api()}/projects", json={"name": "mp"}, headers=one.headers
        ).is_success
        for server, count in ((one, 3), (two, 4)):
            for i in range(count):
                r = httpx.post(
                    f"{server.api()}/projects/mp/entries",
                    json={"agent": "a", "message": f"{i}"},
                    headers=server.headers,
                )
                assert r.status_code == 201, r.text
        asyncio.run(_stdio_appends(settings, tmp_path / "mcp.log", 2, **env))
        for server in (one, two):
            series = scrape(f"{server.url}/metrics", server.headers)
            assert total(series, "roundtable_journal_entries_appended_total") == 9
    assert os.listdir(shared)  # the values lived in the shared directory


async def _stdio_appends(settings: Settings, log: Path, count: int, **env: str) -> None:
    async with stdio(settings, "a", log, **env) as client:
        for i in range(count):
            await ok(client, "append_entry", {"project": "mp", "message": f"stdio {i}"})


def test_a_stdio_server_alone_records_no_metrics() -> None:
    """`metrics.silence` (what `roundtable mcp` does without a shared directory) leaves every
    metric callable as before and recording nothing."""
    script = (
        "from roundtable import metrics\n"
        "metrics.silence()\n"
        "metrics.JOURNAL_APPENDS.inc()\n"
        "metrics.labelled(metrics.MCP_TOOL_SECONDS, 't', 'stdio', 'ok').observe(0.1)\n"
        "metrics.EVENT_SUBSCRIBERS.inc()\n"
        "text = metrics.render().decode()\n"
        "assert 'roundtable_journal_appends_total 0.0' in text, text\n"
        "assert 'roundtable_event_subscribers 0.0' in text, text\n"
        "assert 'tool=\"t\"' not in text, text\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_parse_helper_reads_histograms() -> None:
    text = (
        "# TYPE x_seconds histogram\n"
        'x_seconds_bucket{le="1.0",a="b"} 2\nx_seconds_bucket{le="+Inf",a="b"} 2\n'
        'x_seconds_count{a="b"} 2\nx_seconds_sum{a="b"} 0.5\n'
    )
    assert value(parse(text), "x_seconds_count", a="b") == 2
