"""The SQLite writer's thread (`store.worker`): calls run one at a time in order, off the loop;
results and exceptions reach the caller; a cancelled caller's call still runs."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from roundtable.store.worker import Worker

pytestmark = pytest.mark.only_backend("sqlite")


async def test_calls_run_in_order_off_the_loop() -> None:
    worker = Worker("test-worker")
    seen: list[tuple[int, str]] = []

    def call(i: int) -> int:
        seen.append((i, threading.current_thread().name))
        return i * 2

    try:
        results = await asyncio.gather(*(worker.run(call, i) for i in range(20)))
    finally:
        worker.shutdown()
    assert results == [i * 2 for i in range(20)]
    assert seen == [(i, "test-worker") for i in range(20)]


async def test_an_exception_reaches_the_caller_and_a_cancelled_call_still_runs() -> None:
    worker = Worker("test-worker")
    ran = threading.Event()

    def fail() -> None:
        raise ValueError("boom")

    def slow() -> None:
        time.sleep(0.05)
        ran.set()

    try:
        with pytest.raises(ValueError, match="boom"):
            await worker.run(fail)
        pending = worker.run(slow)
        pending.cancel()
        assert await worker.run(lambda: 42) == 42  # after `slow`, which ran
        assert ran.is_set()
    finally:
        worker.shutdown()
