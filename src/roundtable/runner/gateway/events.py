"""The `mcp_call` events of one run, reported off the call path.

A proxied call only appends its event here; one task per run sends what has accumulated as one
batch (the runner's progress report takes a list), so a slow or unreachable server never adds
to a tool call's latency. A failed report is logged and retried with backoff, the batch kept
(later events queue behind it, order preserved) until it goes through. When the run ends the
rest is flushed before the run's own outcome is reported. Events given up on (refused by the
server for good, still undeliverable `close_timeout` seconds after the run ended, or beyond
`max_pending` while the server is unreachable) are counted in `lost` and logged with that count.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("roundtable.runner.gateway")

#: Sends one batch of progress events (`{"kind": ..., "data": ...}`); raises when it failed.
Report = Callable[[list[dict[str, Any]]], Awaitable[None]]


def _always(_error: BaseException) -> bool:
    return True


class CallEvents:
    """One run's queue of call events and the task that reports them in batches."""

    def __init__(
        self,
        report: Report,
        run_id: str,
        *,
        retryable: Callable[[BaseException], bool] = _always,
        max_batch: int = 200,
        max_pending: int = 10_000,
        backoff: tuple[float, float] = (0.2, 5.0),
        close_timeout: float = 10.0,
    ) -> None:
        self._report = report
        self._run_id = run_id
        self._retryable = retryable
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._backoff = backoff
        self._close_timeout = close_timeout
        self._pending: list[dict[str, Any]] = []
        self._inflight: list[dict[str, Any]] = []
        self._wake = asyncio.Event()
        self._closing = False
        #: Events the server accepted, failed report attempts, and events given up on.
        self.sent = 0
        self.failures = 0
        self.lost = 0
        self._task = asyncio.create_task(self._send_loop(), name=f"mcp-events-{run_id}")

    def add(self, kind: str, data: dict[str, Any]) -> None:
        """Queue one event; never waits."""
        if len(self._pending) >= self._max_pending:
            self._pending.pop(0)
            self.lost += 1
            if self.lost == 1 or self.lost % 1000 == 0:
                log.error(
                    "run %s: %d MCP call events dropped: the server has not taken them and "
                    "%d are waiting",
                    self._run_id,
                    self.lost,
                    self._max_pending,
                )
        self._pending.append({"kind": kind, "data": data})
        self._wake.set()

    async def _send_loop(self) -> None:
        delay = self._backoff[0]
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = self._inflight = self._pending[: self._max_batch]
            del self._pending[: len(batch)]
            try:
                await self._report(batch)
            except Exception as exc:
                self._inflight = []
                self.failures += 1
                if not self._retryable(exc):
                    self.lost += len(batch)
                    log.error(
                        "run %s: %d MCP call events refused by the server and lost: %s",
                        self._run_id,
                        len(batch),
                        exc,
                    )
                    continue
                self._pending[:0] = batch  # first again, in order
                log.warning(
                    "run %s: reporting %d MCP call events failed (%s); retrying in %.1f s",
                    self._run_id,
                    len(batch),
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff[1])
                continue
            self._inflight = []
            self.sent += len(batch)
            delay = self._backoff[0]

    async def aclose(self) -> None:
        """Flush what is queued (up to `close_timeout` seconds), then stop."""
        self._closing = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self._close_timeout)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        unsent = len(self._inflight) + len(self._pending)
        if unsent:
            self.lost += unsent
            log.error(
                "run %s: %d MCP call events could not be reported before the run ended "
                "and are lost (%d lost in all)",
                self._run_id,
                unsent,
                self.lost,
            )
            self._inflight, self._pending = [], []
