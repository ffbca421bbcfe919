"""The `echo` executor's behaviours that need no server (starting children needs one: e2e)."""

from __future__ import annotations

import asyncio

from roundtable.runner.executors.echo import EchoExecutor
from tests.runner.helpers import claimed, context


async def test_echo_returns_its_input() -> None:
    ctx, _ = context(claimed("echo", {}, {"prompt": "hello"}))
    result = await EchoExecutor().execute(ctx)
    assert result.status == "completed"
    assert result.result_data == {"echo": {"prompt": "hello"}}


async def test_progress_events_and_text() -> None:
    ctx, recorder = context(claimed("echo", {"progress": 3, "text": "done"}, {"prompt": "x"}))
    result = await EchoExecutor().execute(ctx)
    assert [kind for kind, _ in recorder.events] == ["step"] * 3
    assert result.result_text == "done"


async def test_fail_only_the_first_attempts() -> None:
    config = {"fail": "boom", "fail_attempts": 1, "fail_retryable": True}
    first, _ = context(claimed("echo", config, {}, attempt=1))
    second, _ = context(claimed("echo", config, {}, attempt=2))
    failed = await EchoExecutor().execute(first)
    assert failed.status == "failed" and failed.retryable
    assert failed.error is not None and failed.error.message == "boom"
    assert (await EchoExecutor().execute(second)).status == "completed"


async def test_sleep_ends_early_on_stop() -> None:
    ctx, _ = context(claimed("echo", {"sleep": 60}, {}))
    task = asyncio.create_task(EchoExecutor().execute(ctx))
    await asyncio.sleep(0.05)
    ctx.stop.set()
    result = await asyncio.wait_for(task, timeout=10)
    assert result.status == "stopped"
