"""The runner process: register, claim work, run it in executors, report, and leave cleanly.

It talks to the server over HTTP only (`RunnerApi`); it never opens the database, so it can run
on any machine that reaches the server. What is authoritative lives on the server: a run this
process holds is leased, and the heartbeat renews those leases. If the process dies, the leases
run out and the server puts the runs back in the queue; if the server goes away, the process
keeps its running work, retries with backoff, and reports each outcome once it is back.

Shutdown (SIGTERM/SIGINT, or `request_stop`): stop claiming, let running runs finish for up to
`grace_seconds`, then stop the rest (reported as stopped), and unregister, which puts anything
still unfinished back in the queue. A second signal skips the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from roundtable import tracing
from roundtable.client.http import ServerUnreachable
from roundtable.client.retry import backoff_delay
from roundtable.errors import (
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
    RoundtableError,
    Unauthenticated,
)
from roundtable.runner.api import RunnerApi
from roundtable.runner.executors import Executor, ExecutorResult, RunContext, build
from roundtable.runner.gateway import Gateway, RunnerSecrets
from roundtable.runner.gateway.local import load_local_servers
from roundtable.runner.protocol import ClaimedRun, RunError
from roundtable.runner.structured import for_executor

T = TypeVar("T")
log = logging.getLogger("roundtable.runner")


@dataclass(frozen=True)
class RunnerConfig:
    """How a runner is started (the `roundtable runner` options)."""

    url: str
    token: str
    namespace: str = "default"
    name: str = field(default_factory=socket.gethostname)
    hostname: str = field(default_factory=socket.gethostname)
    tags: tuple[str, ...] = ()
    executors: tuple[str, ...] = ("echo", "script")
    capacity: int = 4
    poll_wait: float = 10.0  # seconds one claim long-poll may wait for work
    grace_seconds: float = 30.0  # on shutdown, how long running runs may go on
    stop_grace: float = 10.0  # after a stop, how long an executor has to return by itself
    max_backoff: float = 5.0  # ceiling of the reconnect delay
    secrets_file: str | None = None  # runner secrets (JSON, mode 0600); else env vars (D12)
    mcp_servers_file: str | None = None  # MCP servers only this runner knows (D11)
    mcp_idle_seconds: float = 300.0  # an upstream connection idle this long is closed

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise InvalidInput("capacity must be at least 1", field="capacity")
        if self.poll_wait < 0 or self.grace_seconds < 0 or self.stop_grace < 0:
            raise InvalidInput("waits and grace periods must not be negative")


def transient(error: BaseException) -> bool:
    """Worth retrying: the server was unreachable, overloaded, or failed on its side (5xx)."""
    if isinstance(error, ServerUnreachable | RateLimited):
        return True
    if type(error) is RoundtableError:
        status = error.data.get("status", 500)
        return not isinstance(status, int) or status >= 500 or status == 429
    return False


def gone(error: BaseException) -> bool:
    """The server no longer knows this runner (or its token): register again."""
    return isinstance(error, NotFound | Unauthenticated | PermissionDenied)


@dataclass
class _Active:
    run: ClaimedRun
    stop: asyncio.Event
    task: asyncio.Task[None] | None = None


class Runner:
    """One runner process's work. `await run()` until `request_stop()` (or a fatal error)."""

    def __init__(
        self,
        config: RunnerConfig,
        *,
        executors: dict[str, Executor] | None = None,
        api: RunnerApi | None = None,
    ) -> None:
        self.config = config
        self.executors = executors if executors is not None else build(config.executors)
        self.api = api or RunnerApi(config.url, config.token)
        self.active: dict[str, _Active] = {}
        self.heartbeat_seconds = 10.0
        self._closing = asyncio.Event()
        self._hurry = asyncio.Event()  # second signal: no grace period
        self._give_up = asyncio.Event()  # shutdown deadline passed: stop retrying reports
        self._slot = asyncio.Event()
        self._reregister = False
        self.gateway: Gateway | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def _gateway(self) -> Gateway:
        """The MCP gateway (issue 12): loopback endpoints for each run's MCP servers."""
        secrets_file = Path(self.config.secrets_file) if self.config.secrets_file else None
        local = load_local_servers(self.config.mcp_servers_file)
        return Gateway(
            RunnerSecrets(file=secrets_file),
            server_url=self.config.url,
            local_servers=local,
            mint=self.api.upstream_token,
            idle_seconds=self.config.mcp_idle_seconds,
        )

    def request_stop(self) -> None:
        """Begin a graceful shutdown; a second call skips the grace period."""
        if self._closing.is_set():
            log.warning("second stop request: stopping running runs now")
            self._hurry.set()
        self._closing.set()

    async def run(self) -> None:
        try:
            async with self._gateway() as self.gateway:
                if not await self._register():
                    return
                heartbeat = asyncio.create_task(self._heartbeat_loop(), name="heartbeat")
                try:
                    await self._claim_loop()
                    await self._drain()
                finally:
                    heartbeat.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await heartbeat
                await self._unregister()
        finally:
            for executor in self.executors.values():
                await executor.aclose()
            await self.api.aclose()

    async def _register(self) -> bool:
        """Register, retrying while the server is unreachable; False if asked to stop first."""
        attempt = 0
        while not self._closing.is_set():
            try:
                reply = await self.api.register(
                    name=self.config.name,
                    hostname=self.config.hostname,
                    namespace=self.config.namespace,
                    tags=list(self.config.tags),
                    executors=sorted(self.executors),
                    capacity=self.config.capacity,
                )
            except RoundtableError as error:
                if not transient(error):
                    raise
                attempt += 1
                await self._pause(attempt, error, "register")
                continue
            self.heartbeat_seconds = max(
                0.2, min(reply.heartbeat_seconds, reply.run_lease_seconds / 3)
            )
            log.info(
                "registered as %s (%s) with executors %s, capacity %d",
                reply.id,
                self.config.name,
                ",".join(sorted(self.executors)),
                self.config.capacity,
            )
            self._reregister = False
            return True
        return False

    async def _pause(self, attempt: int, error: BaseException, what: str) -> None:
        """Back off after a failed call (interrupted by a shutdown request)."""
        delay = backoff_delay(attempt, error, base_delay=0.2, max_delay=self.config.max_backoff)
        log.warning("%s failed (%s); retrying in %.1fs", what, error, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), timeout=delay)

    # -- claiming ----------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        attempt = 0
        closing = asyncio.create_task(self._closing.wait())
        try:
            while not self._closing.is_set():
                if self._reregister and not await self._register():
                    return
                free = self.config.capacity - len(self.active)
                if free <= 0:
                    self._slot.clear()
                    slot = asyncio.create_task(self._slot.wait())
                    await asyncio.wait({slot, closing}, return_when=asyncio.FIRST_COMPLETED)
                    slot.cancel()
                    continue
                # The protocol caps one claim at 64 runs; a bigger runner claims again at once.
                claim = asyncio.create_task(
                    self.api.claim(min(free, 64), self.config.poll_wait, start=True)
                )
                await asyncio.wait({claim, closing}, return_when=asyncio.FIRST_COMPLETED)
                if not claim.done():
                    # Shutting down mid long-poll. This server ends a poll whose client hung up
                    # (and refuses claims once we deregistered), but an older one serves it to
                    # its end and could claim runs for us after we left; so let the poll end (at
                    # most --poll-wait) and run what it brings within the grace period. A second
                    # signal cuts it short.
                    log.info("shutting down: ending the current claim (signal again to hurry)")
                    hurry = asyncio.create_task(self._hurry.wait())
                    await asyncio.wait({claim, hurry}, return_when=asyncio.FIRST_COMPLETED)
                    hurry.cancel()
                    if not claim.done():
                        claim.cancel()
                        with contextlib.suppress(BaseException):
                            await claim
                        return
                try:
                    runs = claim.result()
                except RoundtableError as error:
                    if gone(error):
                        log.warning("the server no longer knows this runner (%s)", error)
                        self._reregister = True
                    elif not transient(error):
                        log.error("claim refused: %s", error)
                    attempt += 1
                    await self._pause(attempt, error, "claim")
                    continue
                attempt = 0
                for run in runs:
                    self._start(run)
        finally:
            closing.cancel()

    def _start(self, run: ClaimedRun) -> None:
        active = _Active(run=run, stop=asyncio.Event())
        self.active[run.id] = active
        active.task = asyncio.create_task(self._execute(active, self.api), name=f"run {run.id}")

    # -- one run -----------------------------------------------------------------------------

    async def _execute(self, active: _Active, api: RunnerApi) -> None:
        """Execute one run inside its `invoke_agent` span (a child of the call that queued it,
        when the server traces): the reports sent from inside it carry it to the server."""
        run = active.run
        carrier = {"traceparent": run.traceparent} if run.traceparent else None
        if carrier is not None and run.tracestate:
            carrier["tracestate"] = run.tracestate
        with tracing.span(
            f"invoke_agent {run.blueprint.name}",
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": run.blueprint.name,
                "gen_ai.agent.id": run.session_id,
                "roundtable.session.id": run.session_id,
                "roundtable.run.id": run.id,
                "roundtable.run.kind": run.kind,
                "roundtable.run.attempt": run.attempt,
                "roundtable.namespace": run.namespace,
                "roundtable.executor": run.blueprint.executor.kind,
            },
            carrier=carrier,
        ) as span:
            status = await self._execute_traced(active, api)
            if span is not None:
                span.set_attribute("roundtable.run.status", status)
                if status == "failed":
                    tracing.mark_error(span, "run failed")

    async def _execute_traced(self, active: _Active, api: RunnerApi) -> str:
        """Run it and report; returns how it ended (`dropped` when the server took it back)."""
        run = active.run
        try:
            executor = self.executors.get(run.blueprint.executor.kind)
            if executor is None:  # the server matches executors, so this is a mismatch bug
                result = ExecutorResult.failed(
                    "executor_unavailable",
                    f"runner has no {run.blueprint.executor.kind!r} executor",
                    retryable=True,
                )
            else:
                active.run = for_executor(run, executor)  # output instructions (issue 10)
                log.info(
                    "run %s (%s, %s, attempt %d) started",
                    run.id,
                    run.kind,
                    run.blueprint.name,
                    run.attempt,
                )
                # A claim with `start` already marked it running (and the run was ours and not
                # asked to stop then); otherwise say so now, and learn whether it is still ours.
                stop_now: bool | None = False
                if run.status != "running":
                    stop_now = await self._report(lambda: api.started(run.id), run.id, "started")
                if stop_now is None:
                    # Refused: the run went back to the queue (or was deleted) meanwhile, so
                    # it is not ours to execute; its next claimer runs it.
                    log.warning("run %s dropped: the server no longer gives it to us", run.id)
                    return "dropped"
                if stop_now:
                    active.stop.set()
                result = await self._supervise(executor, active, api)
            await self._deliver(api, run.id, result)
            return result.status
        finally:
            self.active.pop(run.id, None)
            self._slot.set()

    async def _supervise(
        self, executor: Executor, active: _Active, api: RunnerApi
    ) -> ExecutorResult:
        """Run the executor; after a stop it has `stop_grace` seconds, then it is cancelled."""
        run = active.run

        async def progress(kind: str, data: dict[str, Any]) -> None:
            try:
                if await api.progress(run.id, [{"kind": kind, "data": data}]):
                    active.stop.set()
            except RoundtableError as error:  # a progress note is not worth holding the run
                log.warning("run %s: progress event %r not recorded: %s", run.id, kind, error)

        ctx = RunContext(run=run, server_url=self.config.url, progress=progress, stop=active.stop)
        if self.gateway is None:
            return await self._run_executor(executor, ctx, active)

        async def report_calls(events: list[dict[str, Any]]) -> None:
            # Batches of the gateway's `mcp_call` events; an error is retried by the gateway
            # while `transient`, otherwise logged there and counted as lost.
            if await api.progress(run.id, events):
                active.stop.set()

        try:
            opened = self.gateway.open_run(run, report_calls, retryable=transient)
            grant = await opened.__aenter__()
        except (LookupError, InvalidInput, RuntimeError) as exc:
            return ExecutorResult.failed("mcp_unavailable", str(exc))
        try:
            ctx.mcp_urls, ctx.mcp_token = dict(grant.urls), grant.token
            ctx.secret_names = grant.secret_names
            return await self._run_executor(executor, ctx, active)
        finally:
            await opened.__aexit__(None, None, None)

    async def _run_executor(
        self, executor: Executor, ctx: RunContext, active: _Active
    ) -> ExecutorResult:
        run = active.run
        task = asyncio.create_task(executor.execute(ctx))
        stop = asyncio.create_task(active.stop.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                await asyncio.wait({task}, timeout=self.config.stop_grace)
            if not task.done():
                log.warning("run %s: executor ignored the stop; cancelling it", run.id)
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                return ExecutorResult.stopped()
        finally:
            stop.cancel()
        try:
            return task.result()
        except asyncio.CancelledError:
            return ExecutorResult.stopped()
        except Exception as exc:
            log.exception("run %s: executor raised", run.id)
            return ExecutorResult.failed("executor_error", f"{type(exc).__name__}: {exc}")

    async def _deliver(self, api: RunnerApi, run_id: str, result: ExecutorResult) -> None:
        """Report how the run ended; logged as `run ID STATUS` once the server accepted it."""
        reply: dict[str, Any] | None
        if result.status == "completed":
            reply = await self._report(
                lambda: api.complete(
                    run_id,
                    result_text=result.result_text,
                    result_data=result.result_data,
                    usage=result.usage,
                ),
                run_id,
                "complete",
            )
        elif result.status == "failed":
            error = result.error or RunError(code="failed", message="the executor failed")
            reply = await self._report(
                lambda: api.fail(run_id, error, retryable=result.retryable), run_id, "fail"
            )
        else:
            reply = await self._report(lambda: api.stopped(run_id), run_id, "stopped")
        if reply is not None:
            log.info("run %s %s", run_id, result.status)

    async def _report(self, call: Callable[[], Awaitable[T]], run_id: str, what: str) -> T | None:
        """Send a report, retrying while the server is unreachable; None if it was refused.

        A refusal (4xx) means the server no longer wants this report, e.g. the run's lease ran
        out and it went back to the queue: the run is someone else's now, so it is dropped.
        """
        attempt = 0
        while True:
            try:
                return await call()
            except RoundtableError as error:
                if not transient(error):
                    log.warning("run %s: %s report refused: %s", run_id, what, error)
                    return None
                if self._give_up.is_set():
                    log.error("run %s: %s report lost at shutdown: %s", run_id, what, error)
                    return None
                attempt += 1
                delay = backoff_delay(
                    attempt, error, base_delay=0.2, max_delay=self.config.max_backoff
                )
                log.warning("run %s: %s report failed (%s); retrying", run_id, what, error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._give_up.wait(), timeout=delay)

    # -- heartbeat ---------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            if self._reregister:
                continue
            try:
                reply = await self.api.heartbeat(sorted(self.active))
            except RoundtableError as error:
                if gone(error):
                    self._reregister = True
                log.warning("heartbeat failed: %s", error)
                continue
            for run_id in reply.stop:
                active = self.active.get(run_id)
                if active is not None:
                    log.info("run %s: the server asked to stop it", run_id)
                    active.stop.set()

    # -- shutdown ----------------------------------------------------------------------------

    async def _drain(self) -> None:
        """Let running runs finish within the grace period, then stop what is left."""
        tasks = {a.task for a in self.active.values() if a.task is not None}
        if not tasks:
            return
        log.info(
            "shutting down: waiting up to %gs for %d run(s)", self.config.grace_seconds, len(tasks)
        )
        hurry = asyncio.create_task(self._hurry.wait())
        try:
            await asyncio.wait({*tasks, hurry}, timeout=self.config.grace_seconds)
        finally:
            hurry.cancel()
        for active in list(self.active.values()):
            active.stop.set()
        tasks = {a.task for a in self.active.values() if a.task is not None}
        if tasks:
            # stop_grace for the executors, then a little for the reports to get through.
            await asyncio.wait(tasks, timeout=self.config.stop_grace + 10.0)
        self._give_up.set()
        tasks = {a.task for a in self.active.values() if a.task is not None}
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)

    async def _unregister(self) -> None:
        try:
            await self.api.unregister()
            log.info("unregistered")
        except RoundtableError as error:
            log.warning("could not unregister (%s); the server will mark this runner stale", error)


async def serve(config: RunnerConfig, install_signals: bool = True) -> None:
    """Run a runner until SIGTERM or SIGINT (used by `roundtable runner`)."""
    import signal

    tracing.configure_from_env("roundtable-runner")  # off unless OTEL_* ask and [otel] is there
    runner = Runner(config)
    if install_signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runner.request_stop)
    await runner.run()
