"""The MCP server registry (D11): entries by namespace and one entry's transport, auth and tool
lists. Entries hold secret *names* only (mcp_models), so everything shown is safe to show; the
pages read, changes go through the API or `roundtable mcp-server add`."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from roundtable.dashboard import web
from roundtable.orchestration.mcp_models import McpServerInfo

router = APIRouter(route_class=web.HtmlRoute)


def secret_names(server: McpServerInfo) -> list[tuple[str, str]]:
    """(where, name) of every runner secret the entry refers to: names, never values."""
    auth = server.auth
    named = [
        ("auth secret", auth.secret),
        ("OAuth client id", auth.client_id_secret),
        ("OAuth client secret", auth.client_secret_secret),
    ]
    return [(where, name) for where, name in named if name] + [("env", n) for n in server.env]


@router.get("/mcp-servers", response_class=HTMLResponse)
async def mcp_servers(request: Request) -> Response:
    caller = await web.signed_in(request)
    core = web.core_of(request)
    found = await core.orchestration.mcp_servers.list(web.namespace(request, caller))
    page, next_cursor = web.slice_page(found, lambda s: s.name, request.query_params.get("cursor"))
    return web.render(request, "mcp_servers.html", caller, servers=page, next_cursor=next_cursor)


@router.get("/mcp-servers/{name}", response_class=HTMLResponse)
async def mcp_server(request: Request, name: str) -> Response:
    caller = await web.signed_in(request)
    core = web.core_of(request)
    ns = web.namespace(request, caller)
    server = await core.orchestration.mcp_servers.get(ns, name)
    users = sorted(
        b.name for b in await core.orchestration.blueprints.list(ns) if name in b.mcp_servers
    )
    return web.render(
        request,
        "mcp_server.html",
        caller,
        server=server,
        secrets=secret_names(server),
        blueprints=users,
    )
