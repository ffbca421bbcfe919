"""Resources: a journal's recent entries and its latest signed checkpoint. No prompts.

Both are templates over a project name, read in the caller's namespace (over HTTP the token's),
so a client can attach a journal's state to a conversation without a tool call. Prompts are not
advertised at all: Roundtable has none, and an empty capability only invites clients to ask.
"""

from __future__ import annotations

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.shared.exceptions import MCPError

from roundtable.errors import NotFound, RoundtableError
from roundtable.mcp.common import McpState, _reader, _state

RECENT_ENTRIES = 20
#: JSON-RPC error code for a resource that does not exist (MCP specification).
RESOURCE_NOT_FOUND = -32002
INVALID_PARAMS = -32602


def _mcp_error(error: RoundtableError, uri: str) -> MCPError:
    """A domain error as a JSON-RPC error whose data is the same `{"error": ...}` as tools'."""
    code = RESOURCE_NOT_FOUND if isinstance(error, NotFound) else INVALID_PARAMS
    return MCPError(code=code, message=error.message, data={"uri": uri, "error": error.to_dict()})


def register(server: MCPServer[McpState]) -> None:
    """Add the journal resources; withdraw the prompt methods so none are advertised."""
    handlers = server._lowlevel_server._request_handlers
    for method in ("prompts/list", "prompts/get"):
        handlers.pop(method, None)

    @server.resource(
        "roundtable://journal/{project}/recent",
        name="recent-entries",
        title="Recent journal entries",
        description=f"The newest {RECENT_ENTRIES} entries of a project's journal, newest first.",
        mime_type="application/json",
    )
    async def recent_entries(project: str, ctx: Context) -> str:
        await _state(ctx).handle.get()
        core, _, namespace = _reader(ctx, None)
        try:
            page = await core.journal.read_recent(namespace, project, limit=RECENT_ENTRIES)
        except RoundtableError as error:
            raise _mcp_error(error, f"roundtable://journal/{project}/recent") from None
        return page.model_dump_json()

    @server.resource(
        "roundtable://journal/{project}/checkpoint",
        name="latest-checkpoint",
        title="Latest signed checkpoint",
        description="A project's newest signed checkpoint: size, Merkle root and C2SP note.",
        mime_type="application/json",
    )
    async def latest_checkpoint(project: str, ctx: Context) -> str:
        from roundtable.journal import checkpoints

        await _state(ctx).handle.get()
        core, _, namespace = _reader(ctx, None)
        try:
            found = await checkpoints.latest(core.db, namespace, project)
        except RoundtableError as error:
            raise _mcp_error(error, f"roundtable://journal/{project}/checkpoint") from None
        return found.model_dump_json()
