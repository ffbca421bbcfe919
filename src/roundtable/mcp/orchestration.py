"""MCP tools for orchestration: agents start, watch, wait for and stop other agents.

The caller's session becomes the parent: a run token's own session, else the `session_id`
given (over stdio: the session this server started). Registered by `build_server`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from pydantic import Field

from roundtable.errors import InvalidInput, PermissionDenied
from roundtable.mcp.common import READ, WRITE, Caller, _caller, _principal, domain_errors
from roundtable.orchestration.models import (
    AgentSession,
    BlueprintList,
    Mode,
    SessionList,
    SessionResult,
    WaitResult,
)

if TYPE_CHECKING:
    # Both import the store (SQLAlchemy) and jsonschema: only a call needs them, not the list.
    from roundtable.auth.tokens import Principal


def _output(schema: dict[str, Any] | str | None) -> Any:
    """`structured.outputs.check_request`, imported at the first call (see above)."""
    from roundtable.structured.outputs import check_request

    return check_request(schema, None)


SessionArg = Annotated[str | None, Field(description="Your session id (default: your session).")]
TargetArg = Annotated[str, Field(description="A session of your tree.")]


def register(server: MCPServer[Any]) -> None:
    """Add the orchestration tools to `server`."""

    def who(ctx: Context, session_id: str | None) -> tuple[Caller, Principal, str | None]:
        c = _caller(ctx, None, None)
        principal = _principal(ctx)
        if principal.scope is not None:
            return c, principal, principal.scope.session_id
        return c, principal, c.session(session_id)

    @server.tool(title="List blueprints", annotations=READ)
    @domain_errors
    async def list_blueprints(ctx: Context) -> BlueprintList:
        """Agent definitions you can start with start_agent_session."""
        c = _caller(ctx, None, None)
        return BlueprintList(blueprints=await c.core.orchestration.blueprints.list(c.namespace))

    @server.tool(title="Start agent session", annotations=WRITE)
    @domain_errors
    async def start_agent_session(
        ctx: Context,
        blueprint: str,
        parameters: Annotated[
            dict[str, Any] | None, Field(description="Per the blueprint's schema; default: prompt.")
        ] = None,
        prompt: Annotated[str | None, Field(description="Shorthand for {prompt}.")] = None,
        mode: Annotated[
            Mode, Field(description="sync waits; async_poll; async_callback calls you back.")
        ] = Mode.ASYNC_POLL,
        session_id: SessionArg = None,
        wait_seconds: Annotated[float, Field(ge=0, description="sync: max wait.")] = 60,
        output_schema: Annotated[  # structured output (issue 10)
            dict[str, Any] | str | None,
            Field(description="Result JSON Schema, or registry NAME[@N]; default: blueprint's."),
        ] = None,
    ) -> AgentSession:
        """Start a child agent from a blueprint; your session becomes its parent."""
        c, principal, parent = who(ctx, session_id)
        if principal.scope is not None and session_id not in (None, parent):
            raise PermissionDenied(
                "a run token starts children of its own session only", session_id=session_id
            )
        params: Any = parameters if parameters is not None else {}
        if prompt is not None:
            params = {**params, "prompt": prompt}
        return await c.core.orchestration.trees.start(
            c.namespace,
            principal,
            blueprint,
            params,
            mode=mode,
            parent_session_id=parent,
            wait_seconds=wait_seconds,
            output=_output(output_schema),
        )

    @server.tool(title="Resume agent session", annotations=WRITE)
    @domain_errors
    async def resume_agent_session(
        ctx: Context,
        target_session_id: TargetArg,
        prompt: str | None = None,
        parameters: dict[str, Any] | None = None,
        mode: Mode | None = None,
        output_schema: Annotated[
            dict[str, Any] | str | None,
            Field(description="Result JSON Schema, or registry NAME[@N]; default: blueprint's."),
        ] = None,
    ) -> AgentSession:
        """Give an idle child session more work (prompt or parameters)."""
        c, principal, _ = who(ctx, None)
        return await c.core.orchestration.trees.resume(
            c.namespace,
            principal,
            target_session_id,
            parameters,
            prompt,
            mode,
            output=_output(output_schema),
        )

    @server.tool(title="Get session status", annotations=READ)
    @domain_errors
    async def get_session_status(ctx: Context, target_session_id: TargetArg) -> AgentSession:
        """A session of your tree: status, depth, blueprint, latest result."""
        c, principal, _ = who(ctx, None)
        return await c.core.orchestration.trees.get(c.namespace, principal, target_session_id)

    @server.tool(title="Get session result", annotations=READ)
    @domain_errors
    async def get_session_result(ctx: Context, target_session_id: TargetArg) -> SessionResult:
        """A session's latest result (result_data / result_text) or error."""
        c, principal, _ = who(ctx, None)
        return await c.core.orchestration.trees.result(c.namespace, principal, target_session_id)

    @server.tool(title="List child sessions", annotations=READ)
    @domain_errors
    async def list_child_sessions(ctx: Context, session_id: SessionArg = None) -> SessionList:
        """Direct children of your session (or of one in your tree)."""
        c, principal, parent = who(ctx, session_id)
        if session_id is not None:
            parent = session_id
        if parent is None:
            raise InvalidInput("name session_id (no session of yours is known)", field="session_id")
        children = await c.core.orchestration.trees.children(c.namespace, principal, parent)
        return SessionList(sessions=children)

    @server.tool(title="Wait for children", annotations=READ)
    @domain_errors
    async def wait_for_children(
        ctx: Context,
        children: Annotated[list[str] | None, Field(description="Default: all.")] = None,
        timeout: Annotated[float, Field(ge=0, description="Seconds (capped).")] = 30,  # noqa: ASYNC109
        session_id: SessionArg = None,
    ) -> WaitResult:
        """Join barrier: wait until your (named) children are no longer pending/running."""
        c, principal, parent = who(ctx, session_id)
        if session_id is not None:
            parent = session_id
        if parent is None:
            raise InvalidInput("name session_id (no session of yours is known)", field="session_id")
        return await c.core.orchestration.trees.wait_children(
            c.namespace, principal, parent, children, timeout
        )

    @server.tool(title="Stop session", annotations=WRITE)
    @domain_errors
    async def stop_session(ctx: Context, target_session_id: TargetArg) -> AgentSession:
        """Stop a session of your tree and (per on_parent_exit) its children."""
        c, principal, _ = who(ctx, None)
        return await c.core.orchestration.trees.stop(c.namespace, principal, target_session_id)
