"""What every MCP tool module shares: the caller, the error encoding, argument types, hints.

Error encoding (D17): a failed call is an MCP result with `isError: true` whose only content is
one text block holding `{"error": {"code", "message", "data"}}` as JSON, and no
`structuredContent`. The TypeScript SDK client validates `structuredContent` against the tool's
output schema even on error results, so an error carried there is replaced by a schema failure
in most clients; text content reaches the model in every client and both SDKs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, ParamSpec, TypeVar, cast

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field, ValidationError

from roundtable import metrics, tracing
from roundtable.errors import InvalidInput, RoundtableError

if TYPE_CHECKING:
    from mcp.server import MCPServer

    from roundtable.auth.tokens import Principal
    from roundtable.mcp.warm import WarmStart
    from roundtable.runtime import Roundtable

P = ParamSpec("P")
T = TypeVar("T")


class CoreHandle:
    """The open `Roundtable`, or how to open it on first use.

    `roundtable mcp` answers `initialize` and `tools/list` before its database is open (the
    imports and migrations behind it take longer than a client waits at launch): the core
    opens shortly after start, or at the first call that needs it if that comes first. Over
    HTTP the app's core is already open.
    """

    def __init__(
        self,
        core: Roundtable | None = None,
        opener: Callable[[], Awaitable[Roundtable]] | None = None,
    ) -> None:
        self._core = core
        self._opener = opener
        self._opening: asyncio.Future[Roundtable] | None = None

    def _start(self) -> asyncio.Future[Roundtable]:
        if self._opening is None:
            if self._opener is None:
                raise RuntimeError("no core and no way to open one")
            self._opening = asyncio.ensure_future(self._opener())
        return self._opening

    async def get(self) -> Roundtable:
        if self._core is None:
            self._core = await self._start()
        return self._core

    @property
    def core(self) -> Roundtable:
        """The open core (`RoundtableMCP` awaits `get()` before any tool runs)."""
        if self._core is None:
            raise RuntimeError("the core is not open yet")
        return self._core

    async def settle(self) -> None:
        """Before shutdown: stop an opening still under way (its exit stack closes the rest)."""
        if self._opening is not None and not self._opening.done():
            self._opening.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._opening

    def prefetch(self, delay: float) -> None:
        """Start opening after `delay` seconds, so the first call rarely waits for it."""

        def start() -> None:
            if self._core is None:
                # A failure is raised again to the call that needs the core.
                self._start().add_done_callback(lambda f: f.exception())

        asyncio.get_running_loop().call_later(delay, start)


class McpState:
    """What every tool call needs: the core, and how callers are identified.

    `core` is open whenever a tool runs: `RoundtableMCP.call_tool` awaits `handle.get()` first.
    Give either an open `core` or a `handle` that opens one.
    """

    def __init__(
        self,
        core: Roundtable | None = None,
        transport: Literal["stdio", "http"] = "stdio",
        warm: WarmStart | None = None,
        *,
        handle: CoreHandle | None = None,
    ) -> None:
        self.handle = handle if handle is not None else CoreHandle(core)
        self.transport = transport
        self.warm = warm

    @property
    def core(self) -> Roundtable:
        return self.handle.core


@dataclass
class Caller:
    core: Roundtable
    namespace: str
    agent: str
    warm: WarmStart | None = None
    principal: Principal | None = None

    def session(self, session_id: str | None) -> str | None:
        """The session named, else (stdio) the one this server started or resumed; a run
        token's own session whatever is named (another one is refused)."""
        if self.principal is not None and self.principal.scope is not None:
            return self.principal.session_for(session_id)
        if self.warm is not None:
            session_id = self.warm.session_for(self.namespace, self.agent, session_id)
        tracing.annotate(session=session_id)
        return session_id


def _state(ctx: Context[Any, Any]) -> McpState:
    return cast(McpState, ctx.request_context.lifespan_context)


def _principal(ctx: Context) -> Principal:
    from roundtable.auth.tokens import ADMIN

    state = _state(ctx)
    if state.transport == "stdio":
        return ADMIN  # the local process already holds the database; identity is declared
    headers = ctx.headers or {}
    return state.core.authenticate(headers.get("authorization"))


def _caller(ctx: Context, agent: str | None, namespace: str | None) -> Caller:
    """Who is calling: over HTTP the token decides, over stdio `ROUNDTABLE_AGENT` or `agent`."""
    state = _state(ctx)
    core = state.core
    principal = _principal(ctx)
    settings = core.settings
    if principal.admin and agent is None:
        agent = settings.agent
        if agent is None:
            raise InvalidInput(
                "no agent identity: set ROUNDTABLE_AGENT for `roundtable mcp` or pass `agent`",
                field="agent",
            )
    caller = Caller(
        core=core,
        namespace=principal.namespace_for(namespace, settings.namespace),
        agent=principal.agent_for(agent),
        warm=state.warm,
        principal=principal,
    )
    tracing.annotate(agent=caller.agent, namespace=caller.namespace)
    return caller


def _reader(ctx: Context, namespace: str | None) -> tuple[Roundtable, Principal, str]:
    """Core, principal and namespace for tools that read a namespace without acting as an agent."""
    core = _state(ctx).core
    principal = _principal(ctx)
    return core, principal, principal.namespace_for(namespace, core.settings.namespace)


async def _project(caller: Caller, project: str | None) -> str:
    if project is not None:
        return project
    return await caller.core.context.current_project(caller.namespace, caller.agent)


def error_result(error: RoundtableError) -> CallToolResult:
    """The MCP form of a domain error: `{"error": ...}` as JSON text, no structured content."""
    metrics.count_refusal(error)
    return CallToolResult(
        content=[TextContent(type="text", text=json.dumps({"error": error.to_dict()}))],
        is_error=True,
    )


def error_code(result: CallToolResult) -> str | None:
    """The `code` of an error result made by `error_result` (None for any other result)."""
    if not result.is_error or not result.content:
        return None
    block = result.content[0]
    try:
        payload = json.loads(block.text) if isinstance(block, TextContent) else None
    except ValueError:
        return None
    error = payload.get("error") if isinstance(payload, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def domain_errors(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Turn a raised `RoundtableError` into an MCP error result (the signature is preserved)."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except RoundtableError as error:
            return cast(T, error_result(error))

    return wrapper


def invalid_arguments(error: ValidationError, prefix: tuple[str, ...] = ()) -> InvalidInput:
    """Arguments that fail a tool's input schema, as the same `invalid_input` the HTTP API gives."""
    errors = [
        {
            "loc": [*prefix, *err.get("loc", ())],
            "msg": err.get("msg", ""),
            "type": err.get("type"),
        }
        for err in error.errors(include_url=False, include_input=False)
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid arguments"}
    where = ".".join(str(part) for part in first["loc"])
    return InvalidInput(f"{where}: {first['msg']}", field=where, errors=errors)


def description(fn: Callable[..., Any]) -> str:
    """A tool's docstring as the one paragraph clients show (no code indentation)."""
    return " ".join(inspect.cleandoc(fn.__doc__ or "").split())


def add_tool(
    server: MCPServer[McpState],
    fn: Callable[..., Awaitable[Any]],
    title: str,
    annotations: ToolAnnotations,
) -> None:
    """Register `fn` as a tool described by its docstring as one paragraph."""
    server.tool(title=title, description=description(fn), annotations=annotations)(fn)


READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
IDEMPOTENT = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)

# Short on purpose: these repeat in every tool; the server's instructions explain them once
# (agent and namespace default to the caller's own).
AgentArg = str | None
NamespaceArg = str | None
SessionArg = Annotated[str | None, Field(description="Renews its lease.")]
ProjectArg = Annotated[str | None, Field(description="Default: your current project.")]
