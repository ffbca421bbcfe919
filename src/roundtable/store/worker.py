"""One thread that runs the SQLite writer's blocking calls (BEGIN that waits, COMMIT, close).

`loop.run_in_executor` costs a `concurrent.futures.Future` (with its own condition variable), a
work item and two chained futures per call; the writer makes one such call per COMMIT, so on
a lone agent's append path that overhead was a measurable share of the CPU (issue 16). Here a
call is one queue put, and its outcome comes back with one `call_soon_threadsafe`. Calls run
one at a time in submission order, like a one-thread executor. A call whose future was
cancelled still runs (the writer shields what it submits anyway); its outcome is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Call = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]


class Worker:
    """A daemon thread started on first use; `run` returns the loop's future of the call."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def run(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run `fn(*args)` on the thread; the future resolves (on the calling loop) with it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if self._thread is None:
            self._thread = threading.Thread(target=self._main, name=self._name, daemon=True)
            self._thread.start()
        self._calls.put((loop, future, fn, args))
        return future

    def _main(self) -> None:
        while (call := self._calls.get()) is not None:
            loop, future, fn, args = call
            try:
                result = fn(*args)
            except BaseException as exc:  # delivered to the caller, as an executor would
                _deliver(loop, _fail, future, exc)
            else:
                _deliver(loop, _succeed, future, result)

    def shutdown(self) -> None:
        """Stop the thread once the calls already submitted have run (blocks until then)."""
        if self._thread is not None:
            self._calls.put(None)
            self._thread.join()
            self._thread = None


def _deliver(loop: asyncio.AbstractEventLoop, how: Callable[..., None], *args: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits for the outcome
        loop.call_soon_threadsafe(how, *args)


def _succeed(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
