"""The runner's view of the wire: the JSON the server's runner routes send and accept.

These models are the runner's own, not the server's: the runner must run on a machine with no
database and no server code, so it reads what it needs from the JSON and ignores the rest
(`extra="ignore"`), which also lets a newer server add fields without breaking older runners.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ExecutorSpec(_Wire):
    kind: str
    config: dict[str, Any] = Field(default_factory=dict)


class RunBlueprint(_Wire):
    """What a claimed run carries of its blueprint: enough to execute it, nothing to edit it."""

    name: str
    version: int = 1
    instructions: str = ""
    executor: ExecutorSpec
    output_schema: dict[str, Any] | None = None
    mcp_servers: list[str] = Field(default_factory=list)


class ClaimedRun(_Wire):
    """A run the server handed this runner: its input, blueprint and a token for its tree."""

    id: str
    session_id: str
    namespace: str = "default"
    kind: str = "start"  # start | resume | callback | retry
    attempt: int = 1
    #: `running` when the claim already marked it started (`start: true`), else `claimed`.
    status: str = "claimed"
    input: Any = None
    demands: list[str] = Field(default_factory=list)
    blueprint: RunBlueprint
    run_token: str
    #: Registry entries of the blueprint's MCP servers (secret names only; issue 12).
    mcp_registry: list[dict[str, Any]] = Field(default_factory=list)
    root_id: str | None = None
    parent_id: str | None = None
    agent: str | None = None
    project: str | None = None
    #: The run's resolved output schema reference, and what a non-native executor appends to
    #: the prompt (structured output).
    output_schema_ref: str | None = None
    output_instructions: str | None = None
    #: The W3C trace context of the call that queued this run (the server traces): the
    #: runner's `invoke_agent` span is its child, and its reports carry that span onwards.
    traceparent: str | None = None
    tracestate: str | None = None


class Registration(_Wire):
    """The answer to `POST /api/v1/runners`: who the runner is and how often to check in."""

    id: str
    token: str
    heartbeat_seconds: float = 10.0
    run_lease_seconds: float = 60.0


class HeartbeatReply(_Wire):
    stop: list[str] = Field(default_factory=list)
    runs_renewed: list[str] = Field(default_factory=list)


class RunError(_Wire):
    code: str
    message: str


class Usage(_Wire):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None


RunOutcome = Literal["completed", "failed", "stopped"]
