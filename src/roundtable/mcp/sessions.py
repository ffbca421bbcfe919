"""Session and context tools: leases (start, heartbeat, end) and the agent's current project."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from pydantic import Field

from roundtable.auth.perms import require_journal_write
from roundtable.mcp.common import (
    IDEMPOTENT,
    READ,
    WRITE,
    AgentArg,
    McpState,
    NamespaceArg,
    SessionArg,
    _caller,
    add_tool,
    domain_errors,
)
from roundtable.sessions.models import ContextInfo, EndStatus, SessionInfo


def register(server: MCPServer[McpState]) -> None:
    """Add the session and context tools to `server`."""

    @domain_errors
    async def start_session(
        ctx: Context,
        metadata: Annotated[dict[str, Any] | None, Field(description="Free JSON.")] = None,
        agent: AgentArg = None,
        namespace: NamespaceArg = None,
    ) -> SessionInfo:
        """Start a leased session (15 min by default; every call naming its id as session_id
        renews it)."""
        c = _caller(ctx, agent, namespace)
        session = await c.core.sessions.start(c.namespace, c.agent, metadata)
        if c.warm is not None:
            await c.warm.started(session)
        return session

    @domain_errors
    async def heartbeat(
        ctx: Context, session_id: str, agent: AgentArg = None, namespace: NamespaceArg = None
    ) -> SessionInfo:
        """Renew a session's lease. lease_expired: start a new session."""
        c = _caller(ctx, agent, namespace)
        return await c.core.sessions.heartbeat(c.namespace, c.agent, session_id)

    @domain_errors
    async def end_session(
        ctx: Context,
        session_id: str,
        status: EndStatus = EndStatus.FINISHED,
        agent: AgentArg = None,
        namespace: NamespaceArg = None,
    ) -> SessionInfo:
        """End your session as finished, failed or stopped."""
        c = _caller(ctx, agent, namespace)
        session = await c.core.sessions.end(c.namespace, c.agent, session_id, status)
        if c.warm is not None:
            await c.warm.ended(session)
        return session

    @domain_errors
    async def set_project(
        ctx: Context,
        project: str,
        expected_version: Annotated[
            int | None,
            Field(description="Only if your context is at this version; omit: last write wins."),
        ] = None,
        create: Annotated[bool, Field(description="Create the project if missing.")] = False,
        session_id: SessionArg = None,
        agent: AgentArg = None,
        namespace: NamespaceArg = None,
    ) -> ContextInfo:
        """Set your own current project. conflict: retry with
        expected_version=data.current_version."""
        c = _caller(ctx, agent, namespace)
        if create:  # creating a project is a journal write
            require_journal_write(c.principal)
        context = await c.core.context.set(
            c.namespace,
            c.agent,
            project,
            expected_version=expected_version,
            create=create,
            session_id=c.session(session_id),
        )
        if c.warm is not None:
            await c.warm.context(context)
        return context

    @domain_errors
    async def get_project(
        ctx: Context, agent: AgentArg = None, namespace: NamespaceArg = None
    ) -> ContextInfo:
        """Your current project and its version (0 if never set)."""
        c = _caller(ctx, agent, namespace)
        context = await c.core.context.get(c.namespace, c.agent)
        if c.warm is not None:
            await c.warm.context(context)
        return context

    add_tool(server, start_session, "Start session", WRITE)
    add_tool(server, heartbeat, "Heartbeat", IDEMPOTENT)
    add_tool(server, end_session, "End session", WRITE)
    add_tool(server, set_project, "Set current project", WRITE)
    add_tool(server, get_project, "Get current project", READ)
