"""The MCP adapter: each tool is a small typed function over one service call.

The same server runs over stdio (`roundtable mcp`, one agent process, identity from
`ROUNDTABLE_AGENT` or the `agent` argument) and over Streamable HTTP at `/mcp` inside
`roundtable serve` (identity from the bearer token). Shared state (the open `Roundtable`) comes
through the lifespan context. A domain error becomes an MCP error result whose
`structuredContent.error` carries a stable `code` and the data needed to recover (for a
conflict: the current version and project).
"""

import functools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal, ParamSpec, TypeVar, cast

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp_types import CallToolResult, InputRequiredResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, ValidationError

from roundtable.auth.tokens import ADMIN, Principal
from roundtable.errors import InvalidInput, RoundtableError
from roundtable.events.service import EventFilter, EventPage
from roundtable.journal.models import (
    AppendResult,
    EntryInput,
    EntryPage,
    ProjectInfo,
    ProofBundle,
    QueryFilter,
    Status,
    VerifyReport,
)
from roundtable.journal.rotation import RotationResult
from roundtable.mcp.proofs import proof_bundle
from roundtable.mcp.warm import WarmStart
from roundtable.runtime import Roundtable
from roundtable.sessions.models import ContextInfo, EndStatus, SessionInfo

INSTRUCTIONS = """\
Roundtable coordinates agents working on shared projects and keeps a tamper-evident work log.
Start with start_session (keep the returned id and pass it as session_id to later calls: that
renews your lease), then set_project to choose your current project, then append_entry to log
progress. set_project takes expected_version for safe concurrent updates: on a conflict the
error carries current_version and current_project; read, decide, and retry.
"""

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class McpState:
    """What every tool call needs: the core, and how callers are identified."""

    core: Roundtable
    transport: Literal["stdio", "http"]
    warm: WarmStart | None = None


AgentArg = Annotated[
    str | None,
    Field(
        description="Act as this agent. Over stdio defaults to ROUNDTABLE_AGENT; over HTTP "
        "it must match the token (admins may name any agent)."
    ),
]
NamespaceArg = Annotated[
    str | None, Field(description="Namespace; defaults to the token's or ROUNDTABLE_NAMESPACE.")
]
SessionArg = Annotated[
    str | None,
    Field(
        description="Your session id from start_session; renews its lease. Over stdio it "
        "defaults to the session this server started (kept across restarts while active)."
    ),
]
ProjectArg = Annotated[
    str | None, Field(description="Project name; defaults to your current project.")
]


class ProjectList(BaseModel):
    projects: list[ProjectInfo]


@dataclass
class Caller:
    core: Roundtable
    namespace: str
    agent: str
    warm: WarmStart | None = None

    def session(self, session_id: str | None) -> str | None:
        """The session named, else (stdio) the one this server started or resumed."""
        if self.warm is None:
            return session_id
        return self.warm.session_for(self.namespace, self.agent, session_id)


def _state(ctx: Context) -> McpState:
    return cast(McpState, ctx.request_context.lifespan_context)


def _principal(ctx: Context) -> Principal:
    state = _state(ctx)
    if state.transport == "stdio":
        return ADMIN  # the local process already holds the database; identity is declared
    headers = ctx.headers or {}
    return state.core.authenticate(headers.get("authorization"))


def _caller(ctx: Context, agent: str | None, namespace: str | None) -> Caller:
    state = _state(ctx)
    principal = _principal(ctx)
    settings = state.core.settings
    if principal.admin and agent is None:
        agent = settings.agent
        if agent is None:
            raise InvalidInput(
                "no agent identity: set ROUNDTABLE_AGENT for `roundtable mcp` or pass `agent`",
                field="agent",
            )
    return Caller(
        core=state.core,
        namespace=principal.namespace_for(namespace, settings.namespace),
        agent=principal.agent_for(agent),
        warm=state.warm,
    )


async def _project(caller: Caller, project: str | None) -> str:
    if project is not None:
        return project
    return await caller.core.context.current_project(caller.namespace, caller.agent)


def error_result(error: RoundtableError) -> CallToolResult:
    """The MCP form of a domain error: readable text plus the same data, structured."""
    payload = error.to_dict()
    return CallToolResult(
        content=[TextContent(type="text", text=json.dumps({"error": payload}))],
        structured_content={"error": payload},
        is_error=True,
    )


def domain_errors(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Turn a raised `RoundtableError` into an MCP error result (the signature is preserved)."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except RoundtableError as error:
            return cast(T, error_result(error))

    return wrapper


def invalid_arguments(error: ValidationError) -> InvalidInput:
    """Arguments that fail a tool's input schema, as the same `invalid_input` the HTTP API gives."""
    errors = [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type")}
        for err in error.errors(include_url=False, include_input=False)
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid arguments"}
    where = ".".join(str(part) for part in first["loc"])
    return InvalidInput(f"{where}: {first['msg']}", field=where, errors=errors)


class RoundtableMCP(MCPServer[McpState]):
    """An `MCPServer` whose argument errors are domain errors like any other.

    The SDK ignores argument names a tool does not declare and reports schema failures as
    plain text. Here both become `invalid_input` error results with a structured
    `error`, as over HTTP: a typo such as `expected_verison` must not silently turn a
    versioned `set_project` into last-write-wins.
    """

    _argument_names: dict[str, frozenset[str]] | None = None

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[McpState, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        if self._argument_names is None:
            self._argument_names = {
                tool.name: frozenset(tool.input_schema.get("properties", {}))
                for tool in await self.list_tools()
            }
        known = self._argument_names.get(name)
        unknown = sorted(set(arguments) - known) if known is not None else []
        if known is not None and unknown:
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


READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
IDEMPOTENT = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)


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

    @server.tool(title="Start session", annotations=WRITE)
    @domain_errors
    async def start_session(
        ctx: Context,
        metadata: Annotated[
            dict[str, Any] | None, Field(description="Free JSON about this session.")
        ] = None,
        agent: AgentArg = None,
        namespace: NamespaceArg = None,
    ) -> SessionInfo:
        """Start a leased session for this agent. Keep the id and pass it as session_id later;
        the lease (15 min by default) renews on every call that names it. A new session
        supersedes this agent's expired ones."""
        c = _caller(ctx, agent, namespace)
        session = await c.core.sessions.start(c.namespace, c.agent, metadata)
        if c.warm is not None:
            c.warm.started(session)
        return session

    @server.tool(title="Heartbeat", annotations=IDEMPOTENT)
    @domain_errors
    async def heartbeat(
        ctx: Context, session_id: str, agent: AgentArg = None, namespace: NamespaceArg = None
    ) -> SessionInfo:
        """Renew a session's lease explicitly (any call naming session_id also renews it)."""
        c = _caller(ctx, agent, namespace)
        return await c.core.sessions.heartbeat(c.namespace, c.agent, session_id)

    @server.tool(title="End session", annotations=WRITE)
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
            c.warm.ended(session)
        return session

    @server.tool(title="Set current project", annotations=WRITE)
    @domain_errors
    async def set_project(
        ctx: Context,
        project: str,
        expected_version: Annotated[
            int | None,
            Field(
                description="Succeed only if your context is still at this version "
                "(from get_project); omit for last-write-wins."
            ),
        ] = None,
        create: Annotated[bool, Field(description="Create the project if missing.")] = False,
        session_id: SessionArg = None,
        agent: AgentArg = None,
        namespace: NamespaceArg = None,
    ) -> ContextInfo:
        """Set this agent's current project. Each agent has its own; others are unaffected.
        On a version conflict the error carries current_version and current_project."""
        c = _caller(ctx, agent, namespace)
        context = await c.core.context.set(
            c.namespace,
            c.agent,
            project,
            expected_version=expected_version,
            create=create,
            session_id=c.session(session_id),
        )
        if c.warm is not None:
            c.warm.context(context)
        return context

    @server.tool(title="Get current project", annotations=READ)
    @domain_errors
    async def get_project(
        ctx: Context, agent: AgentArg = None, namespace: NamespaceArg = None
    ) -> ContextInfo:
        """This agent's current project and its version (0 if never set)."""
        c = _caller(ctx, agent, namespace)
        context = await c.core.context.get(c.namespace, c.agent)
        if c.warm is not None:
            c.warm.context(context)
        return context

    @server.tool(title="List projects", annotations=READ)
    @domain_errors
    async def list_projects(
        ctx: Context, agent: AgentArg = None, namespace: NamespaceArg = None
    ) -> ProjectList:
        """All projects of the namespace with their journal sizes."""
        c = _caller(ctx, agent, namespace)
        return ProjectList(projects=await c.core.journal.list_projects(c.namespace))

    @server.tool(title="Append to journal", annotations=WRITE)
    @domain_errors
    async def append_entry(
        ctx: Context,
        message: Annotated[str | None, Field(description="One entry's text.")] = None,
        status: Status = Status.INFO,
        kind: str = "progress",
        meta: Annotated[dict[str, Any] | None, Field(description="Structured details.")] = None,
        entries: Annotated[
            list[EntryInput] | None,
            Field(description="A batch instead of `message`: appended atomically."),
        ] = None,
        project: ProjectArg = None,
        session_id: SessionArg = None,
        agent: AgentArg = None,
        namespace: NamespaceArg = None,
    ) -> AppendResult:
        """Append one entry (message) or a batch (entries) to a project's journal. The server
        assigns seq and timestamp and chains each entry's hash to the previous one."""
        c = _caller(ctx, agent, namespace)
        if (entries is None) == (message is None):
            raise InvalidInput("give either `message` or `entries`", field="message")
        items = (
            entries
            if entries is not None
            else [EntryInput(message=cast(str, message), status=status, kind=kind, meta=meta or {})]
        )
        return await c.core.journal.append(
            c.namespace, c.agent, project, items, session_id=c.session(session_id)
        )

    @server.tool(title="Read recent entries", annotations=READ)
    @domain_errors
    async def read_recent(
        ctx: Context,
        project: ProjectArg = None,
        limit: Annotated[int, Field(ge=1, description="Entries per page.")] = 20,
        cursor: Annotated[
            str | None, Field(description="next_cursor of the previous page.")
        ] = None,
        agent: AgentArg = None,
        namespace: NamespaceArg = None,
    ) -> EntryPage:
        """The newest entries of a project, newest first."""
        c = _caller(ctx, agent, namespace)
        return await c.core.journal.read_recent(
            c.namespace, await _project(c, project), limit=limit, cursor_=cursor
        )

    @server.tool(title="Query entries", annotations=READ)
    @domain_errors
    async def query_entries(
        ctx: Context,
        filters: QueryFilter,
        agent: AgentArg = None,
        namespace: NamespaceArg = None,
    ) -> EntryPage:
        """Search entries across projects: by agent, session, status, kind, full text, regex,
        meta values, time and seq ranges; paginate with cursor."""
        c = _caller(ctx, agent, namespace)
        return await c.core.journal.query(c.namespace, filters)

    @server.tool(title="Verify journal", annotations=READ)
    @domain_errors
    async def verify_journal(
        ctx: Context,
        project: ProjectArg = None,
        agent: AgentArg = None,
        namespace: NamespaceArg = None,
    ) -> VerifyReport:
        """Recompute a project's hash chain, Merkle tree, signed checkpoints and archives;
        reports the first bad seq and the kind of damage (`problem`)."""
        c = _caller(ctx, agent, namespace)
        return await c.core.journal.verify(c.namespace, await _project(c, project))

    @server.tool(
        title="Rotate journal",
        annotations=ToolAnnotations(
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=False,
        ),
    )
    @domain_errors
    async def rotate_journal(
        ctx: Context,
        project: ProjectArg = None,
        agent: AgentArg = None,
        namespace: NamespaceArg = None,
    ) -> RotationResult:
        """Seal the project's open segment into a verifiable archive: a rotation entry is
        chained carrying the segment's range, Merkle root and archive SHA-256, and a checkpoint
        is signed. Errors with conflict if the segment is empty or another rotation won."""
        c = _caller(ctx, agent, namespace)
        return await c.core.rotation.rotate(c.namespace, await _project(c, project))

    @server.tool(title="Wait for events", annotations=READ)
    @domain_errors
    async def wait_for_events(
        ctx: Context,
        since: Annotated[
            int, Field(ge=0, description="Return events with id > since (the last next_after).")
        ] = 0,
        types: Annotated[
            list[str] | None,
            Field(description="Event type patterns, `*` = any characters, e.g. ['session.*']."),
        ] = None,
        timeout: Annotated[  # noqa: ASYNC109 - the tool's documented long-poll bound
            float, Field(ge=0, description="Seconds to wait if nothing matches yet (capped).")
        ] = 30,
        project: Annotated[str | None, Field(description="Only events of this project.")] = None,
        agent: Annotated[str | None, Field(description="Only events of this agent.")] = None,
        session_id: Annotated[str | None, Field(description="Only this session's events.")] = None,
        namespace: NamespaceArg = None,
        limit: Annotated[int, Field(ge=1, le=1000, description="At most this many events.")] = 100,
    ) -> EventPage:
        """Long-poll the event log: matching events after `since` at once, else wait up to
        `timeout` seconds for the first. Pass the returned next_after as `since` next time; a
        `resync` means events before it were removed by retention."""
        state = _state(ctx)
        principal = _principal(ctx)
        namespace = principal.namespace_for(namespace, state.core.settings.namespace)
        flt = EventFilter.for_principal(
            principal,
            namespace=namespace,
            types=types,
            project=project,
            agent=agent,
            session_id=session_id,
        )
        return await state.core.events.wait(flt, since, timeout, limit)

    @server.tool(title="Get Merkle proof", annotations=READ)
    @domain_errors
    async def get_proof(
        ctx: Context,
        project: ProjectArg = None,
        seq: Annotated[
            int | None, Field(description="Prove this entry is in the tree (inclusion).")
        ] = None,
        old_size: Annotated[
            int | None, Field(description="Prove the tree of this size is a prefix (consistency).")
        ] = None,
        size: Annotated[int | None, Field(description="Tree size; default the head.")] = None,
        agent: AgentArg = None,
        namespace: NamespaceArg = None,
    ) -> ProofBundle:
        """A journal's Merkle tree head (RFC 9162) at `size`, with an inclusion proof for `seq`
        and/or a consistency proof from `old_size`, all against that same tree."""
        c = _caller(ctx, agent, namespace)
        name = await _project(c, project)
        return await proof_bundle(c.core, c.namespace, name, seq, old_size, size)

    from roundtable.mcp import orchestration

    orchestration.register(server)
    return server


def for_core(core: Roundtable, transport: Literal["stdio", "http"]) -> MCPServer[McpState]:
    """A server bound to an already-open core (HTTP: the app's; stdio: the process's)."""

    async def lifespan(_: MCPServer[McpState]) -> AsyncIterator[McpState]:
        warm = await WarmStart.load(core) if transport == "stdio" else None
        yield McpState(core=core, transport=transport, warm=warm)

    return build_server(lifespan)
