"""The gateway's `mcp_call` events are reported off the call path, in batches, and never lost
silently: a failed report is retried, and what is given up on is counted and logged."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from roundtable.runner.gateway import Gateway, RunnerSecrets
from roundtable.runner.gateway.events import CallEvents
from tests.runner.gateway_helpers import agent, claimed, stdio_entry


class Flaky:
    """A report that fails its first `failures` attempts, optionally held until released."""

    def __init__(self, failures: int = 0, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or ConnectionError("server unreachable")
        self.batches: list[list[dict[str, Any]]] = []
        self.attempts = 0
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, batch: list[dict[str, Any]]) -> None:
        self.attempts += 1
        await self.release.wait()
        if self.attempts <= self.failures:
            raise self.error
        self.batches.append(list(batch))

    @property
    def seen(self) -> list[int]:
        return [event["data"]["n"] for batch in self.batches for event in batch]


async def test_failed_reports_are_retried_in_order_until_they_go_through() -> None:
    report = Flaky(failures=3)
    events = CallEvents(report, "r1", backoff=(0.01, 0.02))
    for n in range(50):
        events.add("mcp_call", {"n": n})
    await events.aclose()
    assert report.seen == list(range(50))
    assert (events.sent, events.failures, events.lost) == (50, 3, 0)


async def test_events_queue_while_a_report_is_in_flight_and_go_as_one_batch() -> None:
    report = Flaky()
    report.release.clear()
    events = CallEvents(report, "r1")
    events.add("mcp_call", {"n": 0})
    await asyncio.sleep(0)  # the first report starts and is held
    for n in range(1, 30):
        events.add("mcp_call", {"n": n})  # never waits for the held report
    report.release.set()
    await events.aclose()
    assert report.seen == list(range(30))
    assert [len(b) for b in report.batches] == [1, 29]


async def test_refused_and_undeliverable_events_are_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="roundtable.runner.gateway")
    refused = CallEvents(Flaky(failures=1), "r1", retryable=lambda _e: False)
    refused.add("mcp_call", {"n": 0})
    await refused.aclose()
    assert (refused.sent, refused.lost) == (0, 1)
    assert "1 MCP call events refused by the server and lost" in caplog.text

    down = CallEvents(Flaky(failures=10**6), "r2", backoff=(0.01, 0.01), close_timeout=0.2)
    for n in range(3):
        down.add("mcp_call", {"n": n})
    await down.aclose()
    assert (down.sent, down.lost) == (0, 3) and down.failures > 1
    assert "3 MCP call events could not be reported before the run ended" in caplog.text
    assert "retrying in" in caplog.text

    full = CallEvents(Flaky(failures=10**6), "r3", backoff=(5, 5), max_pending=2, close_timeout=0)
    await asyncio.sleep(0)
    for n in range(5):
        full.add("mcp_call", {"n": n})
    await full.aclose()
    assert full.lost == 5 and "MCP call events dropped" in caplog.text


async def test_proxied_calls_do_not_wait_for_their_events_and_none_is_lost() -> None:
    report = Flaky(failures=1)  # the first report fails and is retried
    report.release.clear()  # and no report completes while the calls run
    async with (
        Gateway(RunnerSecrets(env={})) as gateway,
        gateway.open_run(claimed(["files"], [stdio_entry()]), report) as grant,
    ):
        grant.events._backoff = (0.01, 0.01)
        async with agent(grant.urls["files"], grant.token) as files:
            for n in range(5):
                result = await files.call_tool("echo", {"text": str(n)})
                assert not result.is_error
        assert report.batches == [] and grant.events.sent == 0
        report.release.set()
    assert [e["data"]["outcome"] for b in report.batches for e in b] == ["ok"] * 5
    assert (grant.events.sent, grant.events.failures, grant.events.lost) == (5, 1, 0)
