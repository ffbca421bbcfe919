"""The executor interface: how a runner hands one claimed run to the thing that does the work.

An executor gets everything about the run in a `RunContext` (the run with its blueprint's
instructions, executor config, input, output schema and MCP servers; the server URL and the
run's own token; a progress callback; a stop signal) and returns an `ExecutorResult`. It never
talks to the runner protocol itself: the runner reports started, progress and the outcome, renews
leases and handles stops, so an executor only has to do its work and watch `stop`.

Agent executors (Claude Code, Codex, a generic CLI) and the MCP gateway plug in here: the
gateway fills `RunContext.mcp_urls` and `mcp_token` with per-run proxy endpoints for the
blueprint's servers before the executor starts, and an agent executor passes them to the agent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from roundtable.runner.protocol import ClaimedRun, RunError, RunOutcome, Usage

#: `await progress(kind, data)` records a progress event on the run (e.g. "log", "step").
Progress = Callable[[str, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class ExecutorResult:
    """How a run ended. `completed` carries a result; `failed` carries an error."""

    status: RunOutcome
    result_text: str | None = None
    result_data: Any = None
    usage: Usage | None = None
    error: RunError | None = None
    #: A failure worth another attempt (the server bounds attempts); say so only when a retry
    #: could succeed, e.g. a transient outage, never for bad input.
    retryable: bool = False

    @classmethod
    def completed(
        cls, *, text: str | None = None, data: Any = None, usage: Usage | None = None
    ) -> ExecutorResult:
        return cls("completed", result_text=text, result_data=data, usage=usage)

    @classmethod
    def failed(cls, code: str, message: str, *, retryable: bool = False) -> ExecutorResult:
        return cls("failed", error=RunError(code=code, message=message), retryable=retryable)

    @classmethod
    def stopped(cls) -> ExecutorResult:
        return cls("stopped")


@dataclass
class RunContext:
    """Everything an executor may use for one run."""

    run: ClaimedRun
    server_url: str
    progress: Progress
    stop: asyncio.Event
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("roundtable.runner"))
    #: Per-run MCP endpoints by registry name, on the runner's loopback gateway (issue 12),
    #: including `roundtable` (the server's own tools as this run).
    mcp_urls: dict[str, str] = field(default_factory=dict)
    #: The bearer token for `mcp_urls`: valid for this run's endpoints only, dies with the run.
    mcp_token: str = ""
    #: Names of runner secrets (env vars) an executor's process must never inherit (D12).
    secret_names: frozenset[str] = frozenset()

    def child_env(self) -> dict[str, str]:
        """The environment for an agent process: the runner's minus its secrets, plus the run's
        identity and MCP endpoints (`ROUNDTABLE_MCP_URLS` JSON, `ROUNDTABLE_MCP_TOKEN`)."""
        env = {k: v for k, v in os.environ.items() if k not in self.secret_names}
        env.update(
            ROUNDTABLE_URL=self.server_url,
            ROUNDTABLE_TOKEN=self.run_token,
            ROUNDTABLE_NAMESPACE=self.run.namespace,
            ROUNDTABLE_SESSION_ID=self.run.session_id,
            ROUNDTABLE_RUN_ID=self.run.id,
        )
        if self.mcp_urls:
            env["ROUNDTABLE_MCP_URLS"] = json.dumps(self.mcp_urls, sort_keys=True)
            env["ROUNDTABLE_MCP_TOKEN"] = self.mcp_token
        return env

    @property
    def run_token(self) -> str:
        """A short-lived token scoped to this run's session tree (D7): the agent's identity."""
        return self.run.run_token

    @property
    def config(self) -> dict[str, Any]:
        return self.run.blueprint.executor.config

    async def sleep_or_stop(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True if the run was told to stop meanwhile."""
        if seconds <= 0:
            return self.stop.is_set()
        try:
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True


class Executor(ABC):
    """One kind of executor (`kind` matches a blueprint's `executor.kind`).

    `execute` may be called concurrently for different runs. It should return
    `ExecutorResult.stopped()` soon after `ctx.stop` is set; the runner cancels it after a grace
    period if it does not. An exception escaping `execute` fails the run as `executor_error`.
    """

    kind: ClassVar[str]
    #: True when the executor hands `run.blueprint.output_schema` to the agent's own structured
    #: output; otherwise the runner appends the schema instructions to the prompt (issue 10).
    native_schema: ClassVar[bool] = False

    @abstractmethod
    async def execute(self, ctx: RunContext) -> ExecutorResult: ...

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most executors hold nothing
        """Release what the executor holds (clients, processes) when the runner exits."""
