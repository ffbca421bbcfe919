"""The MCP server registry over HTTP: `NS/mcp-servers` (list, show, apply idempotently,
remove). Entries hold secret names only, so every response is safe to show."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from pydantic import Field

from roundtable.api.bodies import bounded_body
from roundtable.api.deps import Caller, Core
from roundtable.api.versioned import check_path_name, refuse_run_token
from roundtable.orchestration.mcp_models import McpServerInfo, McpServerList, McpServerSpec

router = APIRouter(
    prefix="/api/v1/namespaces/{namespace}/mcp-servers",
    tags=["mcp-servers"],
    dependencies=[Depends(bounded_body)],
)


class ApplyMcpServer(McpServerSpec):
    expected_version: int | None = Field(default=None, ge=0)


@router.get("")
async def list_mcp_servers(namespace: str, core: Core, caller: Caller) -> McpServerList:
    ns = caller.namespace_for(namespace, core.settings.namespace)
    return McpServerList(mcp_servers=await core.orchestration.mcp_servers.list(ns))


@router.get("/{name}")
async def get_mcp_server(namespace: str, name: str, core: Core, caller: Caller) -> McpServerInfo:
    ns = caller.namespace_for(namespace, core.settings.namespace)
    return await core.orchestration.mcp_servers.get(ns, name)


@router.put("/{name}", responses={201: {"model": McpServerInfo, "description": "Created"}})
async def apply_mcp_server(
    namespace: str,
    name: str,
    body: ApplyMcpServer,
    response: Response,
    core: Core,
    caller: Caller,
) -> McpServerInfo:
    """Create (201) or replace (200); identical content is a no-op (`changed: false`)."""
    refuse_run_token(caller, "the MCP server registry")
    ns = caller.namespace_for(namespace, core.settings.namespace)
    check_path_name(body.name, name)
    spec = McpServerSpec.model_validate(body.model_dump(exclude={"expected_version"}))
    info, created = await core.orchestration.mcp_servers.apply(ns, spec, body.expected_version)
    response.status_code = 201 if created else 200
    return info


@router.delete("/{name}", status_code=204)
async def remove_mcp_server(
    namespace: str, name: str, core: Core, caller: Caller, expected_version: int | None = None
) -> None:
    refuse_run_token(caller, "the MCP server registry")
    ns = caller.namespace_for(namespace, core.settings.namespace)
    await core.orchestration.mcp_servers.delete(ns, name, expected_version)
