"""MCP tools for the schema registry: agents read the schemas their outputs must satisfy.
Registered by `build_server`."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from pydantic import Field

from roundtable.mcp.common import READ, _caller, domain_errors
from roundtable.schemas.models import SchemaInfo, SchemaList


def register(server: MCPServer[Any]) -> None:
    """Add `list_schemas` and `get_schema` to `server`."""

    @server.tool(title="List schemas", annotations=READ)
    @domain_errors
    async def list_schemas(ctx: Context) -> SchemaList:
        """Output schemas in the registry: names, versions."""
        c = await _caller(ctx, None, None)
        return await c.core.orchestration.schemas.list(c.namespace)

    @server.tool(title="Get schema", annotations=READ)
    @domain_errors
    async def get_schema(
        ctx: Context,
        ref: Annotated[str, Field(description="NAME (latest) or NAME@VERSION.")],
    ) -> SchemaInfo:
        """One schema version with its JSON Schema body."""
        c = await _caller(ctx, None, None)
        return await c.core.orchestration.schemas.get(c.namespace, ref)
