"""Run a follow command (`events tail`, `log tail --follow`) until Ctrl-C or SIGTERM, exit 0.

A follow command has no end of its own: a signal is how it is meant to stop, so it exits 0,
not 130. The signals are handled on the event loop rather than left to Python's
KeyboardInterrupt, for two reasons met in practice:

- A process started in the background by a non-interactive shell, or by a parent that was,
  inherits SIGINT *ignored*; Python then installs no KeyboardInterrupt handler and
  `kill -INT` (or a test's `send_signal(SIGINT)`) did nothing. These commands install their
  handler whatever disposition they inherited.
- Cancelling a task is only a request: a library may swallow it (anyio's `connect_tcp` can,
  agronholm/anyio#1214). The stop is re-delivered until the work has ended, and the process
  exits after a bounded grace period whatever the work does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable

import typer

from roundtable.cli.common import fail
from roundtable.errors import RoundtableError

#: Signals that stop a follow command.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: How often a stop is re-delivered to work that has not ended yet, and for how long.
RECANCEL_SECONDS = 0.2
GRACE_SECONDS = 5.0


async def until_stopped(work: Callable[[], Awaitable[None]]) -> bool:
    """Run `work()` until it returns or a stop signal arrives; True if a signal stopped it."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed: list[signal.Signals] = []
    for sig in STOP_SIGNALS:
        try:
            loop.add_signal_handler(sig, stop.set)
        except (ValueError, RuntimeError, NotImplementedError):
            break  # not the main thread, or no such support: KeyboardInterrupt still applies
        installed.append(sig)
    task: asyncio.Task[None] = asyncio.ensure_future(work())
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # the work ended by itself: return, or raise its error
            return False
        deadline = loop.time() + GRACE_SECONDS
        while not task.done() and loop.time() < deadline:
            task.cancel()
            await asyncio.wait({task}, timeout=RECANCEL_SECONDS)
        if not task.done():
            # The work will not end (a cancellation swallowed for good): leave without it.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        if not task.cancelled():
            task.exception()  # ended some other way while stopping: nothing left to report
        return True
    finally:
        stopper.cancel()
        for sig in installed:
            loop.remove_signal_handler(sig)
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def follow(work: Callable[[], Awaitable[None]]) -> None:
    """Run a follow command's body; a stop signal exits 0, a domain error its exit code."""
    try:
        asyncio.run(until_stopped(work))
    except KeyboardInterrupt:  # a SIGINT that came before the handlers were installed
        raise typer.Exit(0) from None
    except RoundtableError as error:
        raise fail(error) from None
