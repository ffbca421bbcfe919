"""The MCP adapter: `build_server` assembles the tool modules, one per area, over one core.

The same server runs over stdio (`roundtable mcp`, one agent process, identity from
`ROUNDTABLE_AGENT` or the `agent` argument) and over Streamable HTTP at `/mcp` inside
`roundtable serve` (identity from the bearer token). Shared state (the `Roundtable` core) comes
through the lifespan context. Tools live in `sessions`, `journal`, `proofs` and `events`; what
they share (caller resolution, the error encoding, argument types) is in `common`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp_types import CallToolResult, InputRequiredResult
from mcp_types import Tool as MCPTool
from pydantic import ValidationError

from roundtable import __version__, metrics, tracing
from roundtable.config import MCP_TOOL_GROUPS
from roundtable.errors import ERRORS, InvalidInput, NotFound
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
    error_code,
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
    #: Label of this server's calls in metrics and spans: "stdio" or "http".
    transport: str = "stdio"
    #: Called once, after the first `tools/list` (stdio: then open the database).
    after_first_list: Callable[[], None] | None = None
    #: Tool calls running now (stdio: whether a write could have company, see `SQLiteWriter`).
    calls_in_flight: int = 0

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
        """Call the tool inside its span and latency measurement (`observed_call`)."""
        if self._argument_names is None:
            self._argument_names = {
                tool.name: frozenset(tool.input_schema.get("properties", {}))
                for tool in await super().list_tools()
            }
        if context is not None:  # tools find the core open (stdio opens it lazily)
            await _state(context).handle.get()
        label = name if name in self._argument_names else "<unknown>"
        self.calls_in_flight += 1
        try:
            return await self._traced_call(name, label, arguments, context)
        finally:
            self.calls_in_flight -= 1

    async def _traced_call(
        self,
        name: str,
        label: str,
        arguments: dict[str, Any],
        context: Context[McpState, Any] | None,
    ) -> CallToolResult | InputRequiredResult:
        with tracing.call_scope():
            tracing.annotate(
                agent=arguments.get("agent"),
                session=arguments.get("session_id"),
                project=arguments.get("project"),
                namespace=arguments.get("namespace"),
            )
            return await observed_call(
                label, self.transport, lambda: self._checked_call(name, arguments, context)
            )

    async def _checked_call(
        self, name: str, arguments: dict[str, Any], context: Context[McpState, Any] | None
    ) -> CallToolResult | InputRequiredResult:
        assert self._argument_names is not None  # loaded by call_tool
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


async def observed_call(
    tool: str,
    transport: str,
    call: Callable[[], Awaitable[CallToolResult | InputRequiredResult]],
) -> CallToolResult | InputRequiredResult:
    """Run one tool call in an `execute_tool` span (GenAI conventions) and time it by outcome
    (`tool` is a registered tool's name or `<unknown>`, so clients cannot mint series):
    `ok`, the domain error code of an error result, or `internal_error` if it raised."""
    outcome = "internal_error"
    start = time.perf_counter()
    with tracing.span(
        f"execute_tool {tool}",
        attributes={
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool,
            "gen_ai.tool.type": "function",
            "mcp.method.name": "tools/call",
            "network.transport": "pipe" if transport == "stdio" else "tcp",
        },
    ) as span:
        try:
            result = await call()
            outcome = _outcome(result)
            if span is not None and outcome != "ok":
                span.set_attribute("error.type", outcome)
                tracing.mark_error(span, outcome)
            return result
        finally:
            metrics.labelled(metrics.MCP_TOOL_SECONDS, tool, transport, outcome).observe(
                time.perf_counter() - start
            )


def _outcome(result: CallToolResult | InputRequiredResult) -> str:
    if not isinstance(result, CallToolResult) or not result.is_error:
        return "ok"
    code = error_code(result)
    return code if code in ERRORS else "tool_error"


def build_server(
    lifespan: Callable[[MCPServer[McpState]], AsyncIterator[McpState]],
    groups: Collection[str] | None = None,
) -> MCPServer[McpState]:
    """An MCP server whose tools find the core through `lifespan`'s `McpState`.

    `groups` (default: all) picks the tool groups of `ROUNDTABLE_MCP_TOOLS`: the tool list is
    part of every agent's context, so an agent that only keeps a journal need not carry the
    orchestration and document tools. The session tools are always there.
    """
    server = RoundtableMCP(
        "roundtable",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=asynccontextmanager(lifespan),
        log_level="WARNING",
    )
    wanted = set(MCP_TOOL_GROUPS if groups is None else groups)
    sessions.register(server)
    if "journal" in wanted:
        journal.register(server)
        resources.register(server)  # a journal's recent entries and latest checkpoint
    if "proofs" in wanted:
        proofs.register(server)
    if "events" in wanted:
        events.register(server)
    if "orchestration" in wanted:
        from roundtable.mcp import orchestration

        orchestration.register(server)
    if "schemas" in wanted:
        from roundtable.mcp import schemas

        schemas.register(server)
    if "documents" in wanted:
        from roundtable.mcp import documents

        documents.register(server)
    if not tracing.enabled():
        _without_idle_sdk_spans(server)
    return server


def _without_idle_sdk_spans(server: MCPServer[McpState]) -> None:
    """Drop the SDK's per-request OpenTelemetry middleware while no tracer provider is set.

    It wraps every request in a SERVER span through the OpenTelemetry API, which is a no-op
    without a provider but still ~2 % of a stdio append's CPU (issue 16); the SDK documents
    removing it from `Server.middleware` as the way to opt out. With Roundtable's tracing on
    (`OTEL_*`), or a provider set by other means (auto-instrumentation), it stays.
    """
    from opentelemetry import trace

    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return
    lowlevel = server._lowlevel_server
    lowlevel.middleware = [
        m for m in lowlevel.middleware if type(m).__name__ != "OpenTelemetryMiddleware"
    ]


def for_core(core: Roundtable, transport: Literal["stdio", "http"]) -> MCPServer[McpState]:
    """A server bound to an already-open core (HTTP: the app's; a test's stdio server)."""

    async def lifespan(_: MCPServer[McpState]) -> AsyncIterator[McpState]:
        warm = None
        if transport == "stdio":
            from roundtable.mcp.warm import WarmStart

            warm = await WarmStart.load(core)
        yield McpState(core=core, transport=transport, warm=warm)

    server = build_server(lifespan, core.settings.mcp_tool_groups)
    if isinstance(server, RoundtableMCP):
        server.transport = transport
    return server
