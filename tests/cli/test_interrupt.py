"""Follow commands stop on SIGINT and SIGTERM even if their work swallows a cancellation."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from roundtable.cli.interrupt import until_stopped


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_a_signal_stops_work_that_swallows_the_first_cancellation(
    sig: signal.Signals,
) -> None:
    swallowed: list[int] = []
    ended = asyncio.Event()

    async def stubborn() -> None:
        try:
            while True:
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    if not swallowed:  # as a library that loses a cancellation would
                        swallowed.append(1)
                        asyncio.current_task().uncancel()  # type: ignore[union-attr]
                        continue
                    raise
        finally:
            ended.set()

    loop = asyncio.get_running_loop()
    loop.call_later(0.1, os.kill, os.getpid(), sig)
    assert await until_stopped(stubborn) is True
    assert swallowed == [1] and ended.is_set()
    # The process's own handlers are back: nothing of ours is left installed.
    assert signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, signal.SIG_IGN)


async def test_work_that_ends_by_itself_returns_false_or_raises() -> None:
    async def quick() -> None:
        return None

    assert await until_stopped(quick) is False

    async def broken() -> None:
        raise LookupError("nope")

    with pytest.raises(LookupError):
        await until_stopped(broken)
