"""What orchestration calls take and return, shared by HTTP, MCP and the runner protocol."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from roundtable.sessions.models import SessionInfo

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"


class Mode(StrEnum):
    """How the starter learns the result: wait for it, poll for it, or get a callback run."""

    SYNC = "sync"
    ASYNC_POLL = "async_poll"
    ASYNC_CALLBACK = "async_callback"


class OnParentExit(StrEnum):
    STOP = "stop"
    CONTINUE = "continue"


class TreeStatus(StrEnum):
    """Statuses of an orchestrated session (plain sessions use `active` instead)."""

    PENDING = "pending"  # a run is queued
    RUNNING = "running"  # a runner has claimed its run
    IDLE = "idle"  # between runs: has a result, resumable
    FINISHED = "finished"
    FAILED = "failed"
    STOPPED = "stopped"
    EXPIRED = "expired"


#: A session in one of these has work queued or under way.
BUSY = (TreeStatus.PENDING.value, TreeStatus.RUNNING.value)
#: Ended for good: no further runs.
ENDED = (
    TreeStatus.FINISHED.value,
    TreeStatus.FAILED.value,
    TreeStatus.STOPPED.value,
    TreeStatus.EXPIRED.value,
)


class RunKind(StrEnum):
    START = "start"
    RESUME = "resume"
    CALLBACK = "callback"
    RETRY = "retry"


class RunStatus(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"


#: A run a runner holds (its lease is renewed by heartbeats).
HELD = (RunStatus.CLAIMED.value, RunStatus.RUNNING.value)
RUN_DONE = (RunStatus.COMPLETED.value, RunStatus.FAILED.value, RunStatus.STOPPED.value)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Executor(Strict):
    kind: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$", description="echo | script | ...")
    config: dict[str, Any] = Field(default_factory=dict)


class Limits(Strict):
    max_children: int = Field(default=10, ge=0, le=10_000)
    max_depth: int = Field(
        default=3, ge=0, le=100, description="Depth of the tree below a session of this blueprint."
    )


class BlueprintSpec(Strict):
    """An agent definition as people keep it in git (YAML or JSON); unknown fields refused."""

    name: str = Field(pattern=NAME_PATTERN)
    description: str = Field(default="", max_length=4096)
    instructions: str = Field(default="", max_length=200_000)
    executor: Executor
    parameters_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | str | None = Field(
        default=None, description="JSON Schema, or a registry reference NAME[@N] (issue 10)"
    )
    output_retries: int | None = Field(default=None, ge=0, le=100)
    mcp_servers: list[str] = Field(default_factory=list, max_length=64)
    tags: list[str] = Field(default_factory=list, max_length=64)
    demands: list[str] = Field(default_factory=list, max_length=64)
    on_parent_exit: OnParentExit = OnParentExit.STOP
    limits: Limits = Field(default_factory=Limits)
    status: Literal["active", "disabled"] = "active"


class ApplyBlueprint(BlueprintSpec):
    expected_version: int | None = Field(default=None, ge=0)


class BlueprintInfo(BlueprintSpec):
    version: int
    created_at: datetime
    updated_at: datetime
    changed: bool = False


class BlueprintList(BaseModel):
    blueprints: list[BlueprintInfo]


class AgentSession(SessionInfo):
    """A session with its place in a tree and, for orchestrated ones, its latest result."""

    depth: int = 0
    blueprint: str | None = None
    blueprint_version: int | None = None
    mode: str | None = None
    project: str | None = None
    on_parent_exit: str | None = None
    result_text: str | None = None
    result_data: Any = None
    error: dict[str, Any] | None = None
    timed_out: bool | None = None


class SessionList(BaseModel):
    sessions: list[AgentSession]


class SessionResult(BaseModel):
    session_id: str
    status: str
    result_text: str | None
    result_data: Any
    error: dict[str, Any] | None
    run_id: str | None
    validation: dict[str, Any] | None = Field(
        default=None, description="{schema, valid, attempts, errors} when the run has a schema"
    )


class WaitResult(BaseModel):
    done: bool
    sessions: list[AgentSession]


class Run(BaseModel):
    id: str
    session_id: str
    namespace: str
    kind: str
    status: str
    attempt: int
    max_attempts: int
    priority: int
    executor: str
    demands: list[str]
    input: Any
    runner_id: str | None
    result_text: str | None
    result_data: Any
    error: dict[str, Any] | None
    usage: dict[str, Any] | None
    created_at: datetime
    claimed_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    lease_expires_at: datetime | None
    output_schema_ref: str | None = None
    output_attempt: int | None = None
    validation: dict[str, Any] | None = None


class RunList(BaseModel):
    runs: list[Run]


class ClaimedBlueprint(BaseModel):
    name: str
    version: int
    instructions: str
    executor: Executor
    output_schema: dict[str, Any] | None
    mcp_servers: list[str]


class ClaimedRun(Run):
    blueprint: ClaimedBlueprint
    run_token: str
    #: Registry entries (D11) of the blueprint's `mcp_servers` found on the server, in its
    #: order; secret names only. Names missing here may come from the runner's local file.
    mcp_registry: list[dict[str, Any]] = Field(default_factory=list)
    root_id: str
    parent_id: str | None
    agent: str
    project: str | None
    #: For executors without native structured output: append to the prompt (issue 10).
    output_instructions: str | None = None
    #: W3C trace context of the call that queued the run (issue 17): the runner's
    #: `invoke_agent` span continues it. None when the server does not trace.
    traceparent: str | None = None
    tracestate: str | None = None


class ClaimResult(BaseModel):
    runs: list[ClaimedRun]


class DeleteResult(BaseModel):
    deleted: bool
    session_ids: list[str]
    counts: dict[str, int]


class RunnerRegistration(BaseModel):
    id: str
    token: str
    heartbeat_seconds: float
    run_lease_seconds: float


class RunnerInfo(BaseModel):
    id: str
    name: str
    hostname: str
    namespace: str
    tags: list[str]
    executors: list[str]
    capacity: int
    running: int
    state: Literal["online", "stale", "gone"]
    last_heartbeat: datetime


class RunnerList(BaseModel):
    runners: list[RunnerInfo]


class HeartbeatReply(BaseModel):
    stop: list[str]
    runs_renewed: list[str]


class StopReply(BaseModel):
    stop: bool
