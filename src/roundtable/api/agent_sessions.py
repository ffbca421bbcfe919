"""Orchestrated sessions over HTTP: start, resume, wait, stop, delete, and read their results,
children and runs (the caller's tree only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import Field

from roundtable.api.bodies import bounded_body
from roundtable.api.deps import Caller, Core
from roundtable.orchestration.models import (
    AgentSession,
    DeleteResult,
    Mode,
    OnParentExit,
    Run,
    RunList,
    SessionList,
    SessionResult,
    Strict,
    WaitResult,
)
from roundtable.structured.outputs import check_request

router = APIRouter(
    prefix="/api/v1/namespaces/{namespace}",
    tags=["orchestration"],
    dependencies=[Depends(bounded_body)],
)


class StartAgentSession(Strict):
    blueprint: str = Field(max_length=128)
    parameters: Any = Field(default_factory=dict)
    mode: Mode = Mode.ASYNC_POLL
    parent_session_id: str | None = Field(default=None, max_length=36)
    project: str | None = None
    on_parent_exit: OnParentExit | None = None
    priority: int = 0
    wait_seconds: float = Field(default=60.0, ge=0)
    output_schema: dict[str, Any] | str | None = None  # issue 10: inline or NAME[@N]
    output_retries: int | None = Field(default=None, ge=0)


class ResumeSession(Strict):
    parameters: Any = None
    prompt: str | None = Field(default=None, min_length=1)
    mode: Mode | None = None
    wait_seconds: float = Field(default=60.0, ge=0)
    output_schema: dict[str, Any] | str | None = None  # issue 10: inline or NAME[@N]
    output_retries: int | None = Field(default=None, ge=0)


class WaitChildren(Strict):
    children: list[str] | None = Field(default=None, max_length=1000)
    timeout: float = Field(default=30.0, ge=0)


@router.post("/agent-sessions", status_code=201)
async def start_agent_session(
    namespace: str, body: StartAgentSession, core: Core, caller: Caller
) -> AgentSession:
    """Start a session from a blueprint; `sync` waits (bounded) for its result."""
    ns = caller.namespace_for(namespace, core.settings.namespace)
    return await core.orchestration.trees.start(
        ns,
        caller,
        body.blueprint,
        body.parameters,
        mode=body.mode,
        parent_session_id=body.parent_session_id,
        project=body.project,
        on_parent_exit=body.on_parent_exit,
        priority=body.priority,
        wait_seconds=body.wait_seconds,
        output=check_request(body.output_schema, body.output_retries),
    )


@router.get("/sessions/{session_id}/result")
async def session_result(
    namespace: str, session_id: str, core: Core, caller: Caller
) -> SessionResult:
    ns = caller.namespace_for(namespace, core.settings.namespace)
    return await core.orchestration.trees.result(ns, caller, session_id)


@router.get("/sessions/{session_id}/children")
async def session_children(
    namespace: str, session_id: str, core: Core, caller: Caller
) -> SessionList:
    ns = caller.namespace_for(namespace, core.settings.namespace)
    return SessionList(sessions=await core.orchestration.trees.children(ns, caller, session_id))


@router.get("/sessions/{session_id}/runs")
async def session_runs(namespace: str, session_id: str, core: Core, caller: Caller) -> RunList:
    ns = caller.namespace_for(namespace, core.settings.namespace)
    return RunList(runs=await core.orchestration.trees.runs(ns, caller, session_id))


@router.post("/sessions/{session_id}/resume")
async def resume_session(
    namespace: str, session_id: str, body: ResumeSession, core: Core, caller: Caller
) -> AgentSession:
    ns = caller.namespace_for(namespace, core.settings.namespace)
    return await core.orchestration.trees.resume(
        ns,
        caller,
        session_id,
        body.parameters,
        body.prompt,
        body.mode,
        body.wait_seconds,
        output=check_request(body.output_schema, body.output_retries),
    )


@router.post("/sessions/{session_id}/wait")
async def wait_for_children(
    namespace: str, session_id: str, body: WaitChildren, core: Core, caller: Caller
) -> WaitResult:
    """Join barrier on all (or the named) children, up to `timeout` seconds."""
    ns = caller.namespace_for(namespace, core.settings.namespace)
    return await core.orchestration.trees.wait_children(
        ns, caller, session_id, body.children, body.timeout
    )


@router.post("/sessions/{session_id}/stop")
async def stop_session(namespace: str, session_id: str, core: Core, caller: Caller) -> AgentSession:
    ns = caller.namespace_for(namespace, core.settings.namespace)
    return await core.orchestration.trees.stop(ns, caller, session_id)


@router.delete("/sessions/{session_id}")
async def delete_session(
    namespace: str,
    session_id: str,
    core: Core,
    caller: Caller,
    force: bool = False,
    dry_run: bool = False,
) -> DeleteResult:
    """Delete the session's subtree (409 listing active descendants unless `force`)."""
    ns = caller.namespace_for(namespace, core.settings.namespace)
    return await core.orchestration.deletion.delete(
        ns, caller, session_id, force=force, dry_run=dry_run
    )


@router.get("/runs/{run_id}")
async def get_run(namespace: str, run_id: str, core: Core, caller: Caller) -> Run:
    ns = caller.namespace_for(namespace, core.settings.namespace)
    return await core.orchestration.trees.run(ns, caller, run_id)
