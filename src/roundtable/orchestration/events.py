"""Orchestration's event types (`blueprint.*`, `session.*`, `run.*`, `callback.*`,
`runner.*`) and their payload models, registered in the catalogue on import."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from roundtable.events.catalogue import Payload, register

BLUEPRINT_APPLIED = "blueprint.applied"
BLUEPRINT_DELETED = "blueprint.deleted"
MCP_SERVER_APPLIED = "mcp_server.applied"
MCP_SERVER_DELETED = "mcp_server.deleted"
SESSION_CREATED = "session.created"
SESSION_STATUS = "session.status"
SESSION_DELETED = "session.deleted"
RUN_QUEUED = "run.queued"
RUN_CLAIMED = "run.claimed"
RUN_STARTED = "run.started"
RUN_PROGRESS = "run.progress"
RUN_COMPLETED = "run.completed"
RUN_FAILED = "run.failed"
RUN_STOPPED = "run.stopped"
RUN_REQUEUED = "run.requeued"
CALLBACK_QUEUED = "callback.queued"
CALLBACK_DELIVERED = "callback.delivered"
RUNNER_REGISTERED = "runner.registered"
RUNNER_GONE = "runner.gone"

#: Events that may make a pending run claimable: long-polling claimers wake on these.
CLAIMABLE = (RUN_QUEUED, RUN_REQUEUED)


class BlueprintApplied(Payload):
    name: str
    version: int
    status: str


class BlueprintDeleted(Payload):
    name: str
    version: int


class McpServerApplied(Payload):
    name: str
    version: int
    transport: str
    auth: str = Field(description="The auth kind (never a secret)")


class McpServerDeleted(Payload):
    name: str
    version: int


class SessionCreated(Payload):
    session_id: str
    parent_id: str | None
    root_id: str
    depth: int
    blueprint: str
    blueprint_version: int
    mode: str


class SessionStatusChanged(Payload):
    session_id: str
    status: str = Field(description="pending | running | idle | finished | failed | stopped")
    previous: str
    reason: str | None = None


class SessionDeleted(Payload):
    """Tombstone of a deleted subtree (its events stay)."""

    session_id: str = Field(description="The subtree's top session.")
    session_ids: list[str]
    counts: dict[str, int] = Field(description="Rows removed: sessions, runs, callbacks.")
    forced: bool


class RunQueued(Payload):
    run_id: str
    session_id: str
    kind: str
    attempt: int
    executor: str
    demands: list[str]
    priority: int


class RunClaimed(Payload):
    run_id: str
    session_id: str
    runner_id: str
    attempt: int


class RunStarted(Payload):
    run_id: str
    session_id: str
    runner_id: str


class RunProgress(Payload):
    run_id: str
    session_id: str
    events: list[dict[str, Any]]


class RunEnded(Payload):
    run_id: str
    session_id: str
    status: str
    attempt: int
    runner_id: str | None
    duration_seconds: float | None
    error: dict[str, Any] | None = None


class RunRequeued(Payload):
    run_id: str
    session_id: str
    attempt: int = Field(description="The attempt the run will make next.")
    reason: str


class CallbackQueued(Payload):
    callback_id: int
    parent_id: str
    child_id: str
    status: str


class CallbackDelivered(Payload):
    run_id: str
    parent_id: str
    callback_ids: list[int]


class RunnerRegistered(Payload):
    runner_id: str
    name: str
    hostname: str
    tags: list[str]
    executors: list[str]
    capacity: int


class RunnerGone(Payload):
    runner_id: str
    reason: str = Field(description="shutdown (deregistered) | lease (heartbeats stopped)")
    requeued: list[str]


_TYPES: dict[str, type[Payload]] = {
    BLUEPRINT_APPLIED: BlueprintApplied,
    BLUEPRINT_DELETED: BlueprintDeleted,
    MCP_SERVER_APPLIED: McpServerApplied,
    MCP_SERVER_DELETED: McpServerDeleted,
    SESSION_CREATED: SessionCreated,
    SESSION_STATUS: SessionStatusChanged,
    SESSION_DELETED: SessionDeleted,
    RUN_QUEUED: RunQueued,
    RUN_CLAIMED: RunClaimed,
    RUN_STARTED: RunStarted,
    RUN_PROGRESS: RunProgress,
    RUN_COMPLETED: RunEnded,
    RUN_FAILED: RunEnded,
    RUN_STOPPED: RunEnded,
    RUN_REQUEUED: RunRequeued,
    CALLBACK_QUEUED: CallbackQueued,
    CALLBACK_DELIVERED: CallbackDelivered,
    RUNNER_REGISTERED: RunnerRegistered,
    RUNNER_GONE: RunnerGone,
}
for _type, _model in _TYPES.items():
    register(_type, _model)
