"""A per-caller cap on concurrent expensive work (regex queries, verify).

Who the caller is comes from a context variable the authentication layer sets for each request
(HTTP and MCP over HTTP); a process serving one agent (`roundtable mcp` over stdio, the CLI)
counts as one caller. Over the cap the call is refused at once with `RateLimited` (429 +
`Retry-After`), never queued, so one agent cannot hold every worker thread.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from roundtable.errors import RateLimited

#: "namespace/agent", "admin", or "local" (unauthenticated in-process use).
CALLER: ContextVar[str] = ContextVar("roundtable_caller", default="local")


class ExpensiveGate:
    def __init__(self, per_caller: int) -> None:
        self.per_caller = per_caller
        self._running: dict[str, int] = {}

    @contextlib.contextmanager
    def slot(self, what: str) -> Iterator[None]:
        """Hold one of the caller's slots for the block, or raise `RateLimited`."""
        caller = CALLER.get()
        running = self._running.get(caller, 0)
        if running >= self.per_caller:
            raise RateLimited(
                f"{running} expensive queries ({what}) of yours are already running; the limit "
                f"is {self.per_caller} at a time",
                1.0,
                limit=self.per_caller,
            )
        self._running[caller] = running + 1
        try:
            yield
        finally:
            left = self._running[caller] - 1
            if left:
                self._running[caller] = left
            else:
                del self._running[caller]
