"""`wait_for_events`: a long-poll on the durable event log (D10)."""

from __future__ import annotations

from typing import Annotated

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from pydantic import Field

from roundtable.events.models import EventPage
from roundtable.mcp.common import READ, McpState, NamespaceArg, _reader, add_tool, domain_errors


def register(server: MCPServer[McpState]) -> None:
    """Add `wait_for_events` to `server`."""

    @domain_errors
    async def wait_for_events(
        ctx: Context,
        since: Annotated[int, Field(ge=0)] = 0,
        types: Annotated[
            list[str] | None, Field(description="Type patterns, * = any, e.g. session.*")
        ] = None,
        timeout: Annotated[  # noqa: ASYNC109 - the tool's documented long-poll bound
            float, Field(ge=0, description="Seconds to wait for a first match (capped).")
        ] = 30,
        project: str | None = None,
        agent: str | None = None,
        session_id: str | None = None,
        namespace: NamespaceArg = None,
        limit: Annotated[int, Field(ge=1, le=1000)] = 100,
    ) -> EventPage:
        """Long-poll events with id > since matching types, project, agent and session_id (waits
        up to timeout); next time pass next_after as since. resync: older events expired."""
        from roundtable.events.service import EventFilter

        core, principal, ns = await _reader(ctx, namespace)
        flt = EventFilter.for_principal(
            principal,
            namespace=ns,
            types=types,
            project=project,
            agent=agent,
            session_id=session_id,
        )
        return await core.events.wait(flt, since, timeout, limit)

    add_tool(server, wait_for_events, "Wait for events", READ)
