"""The MCP adapter: `build_server` assembles the tool modules, one per area, over one core.

The same server runs over stdio (`roundtable mcp`, one agent process, identity from
`ROUNDTABLE_AGENT` or the `agent` argument) and over Streamable HTTP at `/mcp` inside
`roundtable serve` (identity from the bearer token). Shared state (the `Roundtable` core) comes
through the lifespan context. Tools live in `sessions`, `journal`, `proofs` and `events`; what
they share (caller resolution, the error encoding, argument types) is in `common`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp_types import CallToolResult, InputRequiredResult
from mcp_types import Tool as MCPTool
from pydantic import ValidationError

from roundtable.errors import InvalidInput, NotFound
from roundtable.mcp import events, journal, proofs, resources, sessions
from roundtable.mcp.common import (
    IDEMPOTENT,
    READ,
    WRITE,
    AgentArg,
    Caller,
    CoreHandle,
    McpState,
    NamespaceArg,
    ProjectArg,
    SessionArg,
    _caller,
    _principal,
    _project,
    _state,
    domain_errors,
    error_result,
    invalid_arguments,
)
from roundtable.mcp.journal import ProjectList
from roundtable.mcp.lean import lean_schema, shallow_output

if TYPE_CHECKING:
    from roundtable.runtime import Roundtable

__all__ = [
    "IDEMPOTENT",
    "INSTRUCTIONS",
    "READ",
    "WRITE",
    "AgentArg",
    "Caller",
    "CoreHandle",
    "McpState",
    "NamespaceArg",
    "ProjectArg",
    "ProjectList",
    "RoundtableMCP",
    "SessionArg",
    "_caller",
    "_principal",
    "_project",
    "_state",
    "build_server",
    "domain_errors",
    "error_result",
    "for_core",
    "invalid_arguments",
]

INSTRUCTIONS = """\
Roundtable coordinates agents on shared projects and keeps a tamper-evident work log.
Call start_session and pass its id as session_id later (renews your lease), set_project to
choose your current project, then append_entry to log progress. agent and namespace default
to yours (over HTTP, your token's). A failed call returns isError with text
{"error": {"code", "message", "data"}}: conflict -> retry with data.current_version;
lease_expired -> start_session again; rate_limited -> wait data.retry_after seconds;
invalid_input -> fix data.field (data.allowed lists valid arguments); not_found;
permission_denied.
"""


class RoundtableMCP(MCPServer[McpState]):
    """An `MCPServer` whose argument errors and unknown tools are domain errors like any other.

    The SDK ignores argument names a tool does not declare and reports schema failures and
    unknown tools as plain text. Here each becomes an error result in the one encoding
    (`common.error_result`): a typo such as `expected_verison` must not silently turn a
    versioned `set_project` into last-write-wins, and a model must be able to read why.
    """

    _argument_names: dict[str, frozenset[str]] | None = None
    #: Called once, after the first `tools/list` (stdio: then open the database).
    after_first_list: Callable[[], None] | None = None

    async def list_tools(self) -> list[MCPTool]:
        """The tools with lean schemas (see `lean`): the list is in every agent's context."""
        hook = self.after_first_list
        if hook is not None:
            self.after_first_list = None
            hook()
        return [
            tool.model_copy(
                update={
                    # One paragraph, whichever module registered the tool (no code indentation).
                    "description": " ".join((tool.description or "").split()) or None,
                    "input_schema": lean_schema(tool.input_schema, inputs=True),
                    "output_schema": None
                    if tool.output_schema is None
                    else shallow_output(tool.output_schema),
                }
            )
            for tool in await super().list_tools()
        ]

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[McpState, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        if self._argument_names is None:
            self._argument_names = {
                tool.name: frozenset(tool.input_schema.get("properties", {}))
                for tool in await super().list_tools()
            }
        if context is not None:  # tools find the core open (stdio opens it lazily)
            await _state(context).handle.get()
        known = self._argument_names.get(name)
        if known is None:
            return error_result(
                NotFound(f"unknown tool {name!r}", tool=name, tools=sorted(self._argument_names))
            )
        unknown = sorted(set(arguments) - known)
        if unknown:
            return error_result(
                InvalidInput(
                    f"unknown argument {unknown[0]!r} for tool {name}",
                    field=unknown[0],
                    unknown=unknown,
                    allowed=sorted(known),
                )
            )
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(exc, UnexpectedToolError) or not isinstance(cause, ValidationError):
                raise
            return error_result(invalid_arguments(cause))


def build_server(
    lifespan: Callable[[MCPServer[McpState]], AsyncIterator[McpState]],
) -> MCPServer[McpState]:
    """An MCP server whose tools find the core through `lifespan`'s `McpState`."""
    server = RoundtableMCP(
        "roundtable",
        instructions=INSTRUCTIONS,
        lifespan=asynccontextmanager(lifespan),
        log_level="WARNING",
    )
    sessions.register(server)
    journal.register(server)
    proofs.register(server)
    events.register(server)
    resources.register(server)
    return server


def for_core(core: Roundtable, transport: Literal["stdio", "http"]) -> MCPServer[McpState]:
    """A server bound to an already-open core (HTTP: the app's; a test's stdio server)."""

    async def lifespan(_: MCPServer[McpState]) -> AsyncIterator[McpState]:
        warm = None
        if transport == "stdio":
            from roundtable.mcp.warm import WarmStart

            warm = await WarmStart.load(core)
        yield McpState(core=core, transport=transport, warm=warm)

    return build_server(lifespan)
