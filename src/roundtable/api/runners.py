"""The runner protocol under `/api/v1/runners` (docs/orchestration.md): register, heartbeat,
long-poll claim, and reports on the runs a runner holds."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from roundtable.api.bodies import bounded_body
from roundtable.api.deps import Caller, Core
from roundtable.orchestration.models import (
    ClaimResult,
    HeartbeatReply,
    Run,
    RunnerList,
    RunnerRegistration,
    RunStatus,
    StopReply,
    Strict,
)
from roundtable.orchestration.reports import Complete, Fail, Progress, ReportOutcome, Reports
from roundtable.orchestration.runners import RegisterRunner

router = APIRouter(prefix="/api/v1/runners", tags=["runners"], dependencies=[Depends(bounded_body)])


class Heartbeat(Strict):
    running: list[str] = Field(default_factory=list, max_length=1024)


class Claim(Strict):
    max: int = Field(default=1, ge=1, le=64)
    wait: float = Field(default=0.0, ge=0)
    #: Mark the claimed runs `running` at once (the runner starts them as it gets them): no
    #: `started` report is needed for them.
    start: bool = False


@router.post("", status_code=201)
async def register_runner(body: RegisterRunner, core: Core, caller: Caller) -> RunnerRegistration:
    """Register a runner; the token returned is valid only on this runner's routes."""
    return await core.orchestration.runners.register(caller, body)


@router.get("")
async def list_runners(core: Core, caller: Caller, namespace: str | None = None) -> RunnerList:
    ns = caller.namespace_for(namespace, core.settings.namespace)
    return RunnerList(runners=await core.orchestration.runners.list(ns))


@router.post("/{runner_id}/heartbeat")
async def heartbeat(runner_id: str, body: Heartbeat, core: Core, caller: Caller) -> HeartbeatReply:
    return await core.orchestration.runners.heartbeat(caller, runner_id, body.running)


@router.post("/{runner_id}/claim")
async def claim(
    runner_id: str, body: Claim, core: Core, caller: Caller, request: Request
) -> ClaimResult:
    """Long-poll for up to `max` matching runs, waiting up to `wait` seconds for the first;
    the poll ends early when the client hangs up."""
    runs = await core.orchestration.queue.claim(
        caller,
        runner_id,
        body.max,
        body.wait,
        disconnected=request.is_disconnected,
        start=body.start,
    )
    return ClaimResult(runs=runs)


@router.post("/{runner_id}/runs/{run_id}/started")
async def run_started(runner_id: str, run_id: str, core: Core, caller: Caller) -> StopReply:
    return StopReply(stop=await core.orchestration.queue.started(caller, runner_id, run_id))


@router.post("/{runner_id}/runs/{run_id}/progress")
async def run_progress(
    runner_id: str, run_id: str, body: Progress, core: Core, caller: Caller
) -> StopReply:
    return StopReply(stop=await core.orchestration.queue.progress(caller, runner_id, run_id, body))


@router.post("/{runner_id}/runs/{run_id}/complete")
async def run_complete(
    runner_id: str, run_id: str, body: Complete, core: Core, caller: Caller
) -> Run:
    return await core.orchestration.queue.finish(
        caller, runner_id, run_id, RunStatus.COMPLETED, complete=body
    )


@router.post("/{runner_id}/runs/{run_id}/fail")
async def run_fail(runner_id: str, run_id: str, body: Fail, core: Core, caller: Caller) -> Run:
    return await core.orchestration.queue.finish(
        caller, runner_id, run_id, RunStatus.FAILED, fail=body
    )


@router.post("/{runner_id}/runs/{run_id}/stopped")
async def run_stopped(runner_id: str, run_id: str, core: Core, caller: Caller) -> Run:
    return await core.orchestration.queue.finish(caller, runner_id, run_id, RunStatus.STOPPED)


class ReportsReply(BaseModel):
    results: list[ReportOutcome]


@router.post("/{runner_id}/reports")
async def run_reports(runner_id: str, body: Reports, core: Core, caller: Caller) -> ReportsReply:
    """Several runs' ends (complete / fail / stopped) in one call and one transaction; each
    result is the run's status after it, or that report's refusal (the others still count)."""
    results = await core.orchestration.queue.finish_many(caller, runner_id, body.reports)
    return ReportsReply(results=results)


class UpstreamTokenRequest(BaseModel):
    audience: str = Field(min_length=1, max_length=256)


class UpstreamToken(BaseModel):
    token: str


@router.post("/{runner_id}/runs/{run_id}/upstream-token")
async def upstream_token(
    runner_id: str, run_id: str, body: UpstreamTokenRequest, core: Core, caller: Caller
) -> UpstreamToken:
    """A JWT for an upstream MCP server with `roundtable` auth (audience = that server)."""
    token = await core.orchestration.queue.upstream_token(caller, runner_id, run_id, body.audience)
    return UpstreamToken(token=token)


@router.delete("/{runner_id}", status_code=204)
async def deregister(runner_id: str, core: Core, caller: Caller) -> None:
    """Graceful shutdown: the runner's unfinished runs go back to the queue."""
    await core.orchestration.runners.deregister(caller, runner_id)
