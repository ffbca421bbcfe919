"""Journal tools: projects, append, read, query, verify and rotate a project's work log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, cast

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

from roundtable.auth.perms import require_journal_write
from roundtable.errors import InvalidInput
from roundtable.journal.models import (
    EntryInput,
    EntryPage,
    MetaScalar,
    ProjectInfo,
    QueryFilter,
    RotationResult,
    Status,
    VerifyReport,
)
from roundtable.mcp.common import (
    READ,
    WRITE,
    AgentArg,
    McpState,
    NamespaceArg,
    ProjectArg,
    SessionArg,
    _caller,
    _project,
    _reader,
    add_tool,
    domain_errors,
)


class ProjectList(BaseModel):
    projects: list[ProjectInfo]


class AppendReceipt(BaseModel):
    """Where an append landed and as whom: its seqs, time, the head hash now covering it
    (the last entry's hash), and the agent and session it is attributed to. The entries are
    not echoed back: the agent has just sent them, and every answer is read into its context
    (`read_recent` shows them as stored; HTTP's append answer has them in full)."""

    project: str
    first_seq: int
    last_seq: int
    ts: datetime
    head_hash: str
    agent: str
    session_id: str | None


ROTATE = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
)


def register(server: MCPServer[McpState]) -> None:
    """Add the journal tools to `server`."""

    @domain_errors
    async def list_projects(
        ctx: Context, agent: AgentArg = None, namespace: NamespaceArg = None
    ) -> ProjectList:
        """All projects of the namespace with their journal sizes."""
        c = _caller(ctx, agent, namespace)
        return ProjectList(projects=await c.core.journal.list_projects(c.namespace))

    @domain_errors
    async def append_entry(
        ctx: Context,
        message: Annotated[str | None, Field(description="One entry's text.")] = None,
        status: Status = Status.INFO,
        kind: str = "progress",
        meta: Annotated[
            dict[str, Any] | None, Field(description="JSON details; your clock as occurred_at.")
        ] = None,
        entries: Annotated[
            list[EntryInput] | None, Field(description="A batch instead of message (atomic).")
        ] = None,
        project: ProjectArg = None,
        session_id: SessionArg = None,
        agent: AgentArg = None,
        namespace: NamespaceArg = None,
    ) -> AppendReceipt:
        """Append a message, or a batch of entries atomically, to a project's hash-chained
        journal. lease_expired: start_session; rate_limited: wait data.retry_after s."""
        c = _caller(ctx, agent, namespace)
        require_journal_write(c.principal)
        if (entries is None) == (message is None):
            raise InvalidInput("give either `message` or `entries`", field="message")
        items = (
            entries
            if entries is not None
            else [EntryInput(message=cast(str, message), status=status, kind=kind, meta=meta or {})]
        )
        done = await c.core.journal.append(
            c.namespace, c.agent, project, items, session_id=c.session(session_id)
        )
        first = done.entries[0]
        return AppendReceipt(
            project=done.project,
            first_seq=done.first_seq,
            last_seq=done.last_seq,
            ts=first.ts,
            head_hash=done.head_hash,
            agent=first.agent,
            session_id=first.session_id,
        )

    @domain_errors
    async def read_recent(
        ctx: Context,
        project: ProjectArg = None,
        limit: Annotated[int, Field(ge=1)] = 20,
        cursor: Annotated[str | None, Field(description="next_cursor of the last page.")] = None,
        agent: AgentArg = None,
        namespace: NamespaceArg = None,
    ) -> EntryPage:
        """A project's newest entries, newest first."""
        c = _caller(ctx, agent, namespace)
        return await c.core.journal.read_recent(
            c.namespace, await _project(c, project), limit=limit, cursor_=cursor
        )

    @domain_errors
    async def query_entries(
        ctx: Context,
        projects: list[str] | None = None,
        agent: Annotated[str | None, Field(description="Written by this agent.")] = None,
        session_id: str | None = None,
        status: list[Status] | None = None,
        kind: str | None = None,
        text: Annotated[
            str | None, Field(description="Every word must occur (whole words, no syntax).")
        ] = None,
        regex: Annotated[str | None, Field(description="Python regex on the message.")] = None,
        meta: Annotated[
            dict[str, MetaScalar] | None, Field(description="meta keys equal to these values.")
        ] = None,
        since: Annotated[datetime | None, Field(description="ts >= since")] = None,
        until: Annotated[datetime | None, Field(description="ts < until")] = None,
        seq_min: Annotated[int | None, Field(ge=1)] = None,
        seq_max: Annotated[int | None, Field(ge=1)] = None,
        order: Literal["newest", "oldest"] = "newest",
        limit: Annotated[int, Field(ge=1)] = 50,
        cursor: Annotated[str | None, Field(description="next_cursor of the last page.")] = None,
        namespace: NamespaceArg = None,
    ) -> EntryPage:
        """Search entries across projects; every filter given must match."""
        core, _, ns = _reader(ctx, namespace)
        given = {
            "projects": projects,
            "agent": agent,
            "session_id": session_id,
            "status": status,
            "kind": kind,
            "text": text,
            "regex": regex,
            "meta": meta,
            "since": since,
            "until": until,
            "seq_min": seq_min,
            "seq_max": seq_max,
            "cursor": cursor,
        }
        filters = QueryFilter(
            order=order, limit=limit, **{k: v for k, v in given.items() if v is not None}
        )
        return await core.journal.query(ns, filters)

    @domain_errors
    async def verify_journal(
        ctx: Context,
        project: ProjectArg = None,
        agent: AgentArg = None,
        namespace: NamespaceArg = None,
    ) -> VerifyReport:
        """Recompute a journal's hash chain, Merkle tree, checkpoints and archives; problem
        names the damage at first_bad_seq."""
        c = _caller(ctx, agent, namespace)
        return await c.core.journal.verify(c.namespace, await _project(c, project))

    @domain_errors
    async def rotate_journal(
        ctx: Context,
        project: ProjectArg = None,
        agent: AgentArg = None,
        namespace: NamespaceArg = None,
    ) -> RotationResult:
        """Seal the open segment into a signed, verifiable archive. conflict: empty segment or
        another rotation won."""
        c = _caller(ctx, agent, namespace)
        require_journal_write(c.principal)
        return await c.core.rotation.rotate(c.namespace, await _project(c, project))

    add_tool(server, list_projects, "List projects", READ)
    add_tool(server, append_entry, "Append to journal", WRITE)
    add_tool(server, read_recent, "Read recent entries", READ)
    add_tool(server, query_entries, "Query entries", READ)
    add_tool(server, verify_journal, "Verify journal", READ)
    add_tool(server, rotate_journal, "Rotate journal", ROTATE)
