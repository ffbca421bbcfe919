"""Resources and prompts: only what is useful is advertised."""

from __future__ import annotations

from mcp.server import MCPServer

from roundtable.mcp.common import McpState


def register(server: MCPServer[McpState]) -> None:
    """Withdraw the prompt methods: Roundtable has no prompts, so none are advertised."""
    handlers = server._lowlevel_server._request_handlers
    for method in ("prompts/list", "prompts/get"):
        handlers.pop(method, None)
