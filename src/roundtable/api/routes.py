"""The HTTP API under /api/v1: thin handlers that resolve the caller and call one service."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from roundtable.api.deps import Caller, Core, CoreCaller, CoreJournalWriter, JournalWriter
from roundtable.api.schemas import (
    AppendEntries,
    CreateProject,
    EndSession,
    SessionCall,
    SetContext,
    StartSession,
    TokenRequest,
)
from roundtable.auth.perms import require_journal_write
from roundtable.auth.tokens import Principal, TokenScope
from roundtable.errors import PermissionDenied
from roundtable.journal.models import (
    AppendResult,
    EntryPage,
    ProjectInfo,
    QueryFilter,
    VerifyReport,
)
from roundtable.orchestration.models import AgentSession
from roundtable.runtime import Roundtable
from roundtable.sessions.models import ContextInfo, SessionInfo, SessionStatus

router = APIRouter(prefix="/api/v1/namespaces/{namespace}")


def _ns(caller: Principal, core: Roundtable, namespace: str) -> str:
    return caller.namespace_for(namespace, core.settings.namespace)


def _run_session(caller: Principal, session_id: str | None) -> str | None:
    """Writes made with a run token are attributed to its session (and only to it)."""
    return caller.session_for(session_id)


async def _session_agent(
    core: Roundtable, caller: Principal, namespace: str, session_id: str, agent: str | None
) -> str:
    """Agents act as themselves; an admin acts as the named agent or the session's owner."""
    if caller.admin and agent is None:
        return (await core.sessions.get(namespace, session_id)).agent
    return caller.agent_for(agent)


# The busiest routes first: a request is matched against the routes one by one, in order (twice,
# by FastAPI's included routers), and an append spent ~10 µs on the routes before its own.
# No two routes of this router take the same request, so the order changes nothing else.
@router.post("/projects/{project}/entries", status_code=201, tags=["journal"])
async def append_entries(
    namespace: str, project: str, body: AppendEntries, acting: CoreJournalWriter
) -> AppendResult:
    """Append one entry or an atomic batch; seqs and timestamps are assigned by the server."""
    core, caller = acting
    return await core.journal.append(
        _ns(caller, core, namespace),
        caller.agent_for(body.agent),
        project,
        body.items(),
        session_id=_run_session(caller, body.session_id),
    )


@router.put("/agents/{agent}/context", tags=["context"])
async def set_context(
    namespace: str, agent: str, body: SetContext, acting: CoreCaller
) -> ContextInfo:
    """Set the agent's current project; 409 with the current version if `expected_version` is stale."""
    core, caller = acting
    if body.create:  # creating a project is a journal write
        require_journal_write(caller)
    return await core.context.set(
        _ns(caller, core, namespace),
        caller.agent_for(agent),
        body.project,
        expected_version=body.expected_version,
        create=body.create,
        session_id=_run_session(caller, body.session_id),
    )


@router.post("/sessions", status_code=201, tags=["sessions"])
async def start_session(
    namespace: str, body: StartSession, core: Core, caller: Caller
) -> SessionInfo:
    """Start a leased session. Pass its id to later calls: each one renews the lease."""
    ns = _ns(caller, core, namespace)
    return await core.sessions.start(
        ns, caller.agent_for(body.agent), body.metadata, parent_id=body.parent_id
    )


@router.get("/sessions", tags=["sessions"])
async def list_sessions(
    namespace: str,
    core: Core,
    caller: Caller,
    agent: str | None = None,
    status: SessionStatus | None = None,
    limit: Annotated[int, Query(ge=1)] = 100,
) -> list[SessionInfo]:
    ns = _ns(caller, core, namespace)
    return await core.sessions.list(ns, agent=agent, status=status, limit=limit)


@router.get("/sessions/{session_id}", tags=["sessions"])
async def get_session(namespace: str, session_id: str, core: Core, caller: Caller) -> AgentSession:
    """A session, with its place in a tree and (orchestrated sessions) its latest result."""
    return await core.orchestration.trees.peek(_ns(caller, core, namespace), caller, session_id)


@router.post("/sessions/{session_id}/heartbeat", tags=["sessions"])
async def heartbeat(
    namespace: str, session_id: str, core: Core, caller: Caller, body: SessionCall | None = None
) -> SessionInfo:
    ns = _ns(caller, core, namespace)
    agent = await _session_agent(core, caller, ns, session_id, body.agent if body else None)
    return await core.sessions.heartbeat(ns, agent, session_id)


@router.post("/sessions/{session_id}/end", tags=["sessions"])
async def end_session(
    namespace: str, session_id: str, core: Core, caller: Caller, body: EndSession | None = None
) -> SessionInfo:
    body = body or EndSession()
    ns = _ns(caller, core, namespace)
    agent = await _session_agent(core, caller, ns, session_id, body.agent)
    return await core.sessions.end(ns, agent, session_id, body.status)


@router.get("/agents/{agent}/context", tags=["context"])
async def get_context(namespace: str, agent: str, core: Core, caller: Caller) -> ContextInfo:
    """The agent's current project. Agents see only their own context."""
    return await core.context.get(_ns(caller, core, namespace), caller.agent_for(agent))


@router.get("/projects", tags=["journal"])
async def list_projects(namespace: str, core: Core, caller: Caller) -> list[ProjectInfo]:
    return await core.journal.list_projects(_ns(caller, core, namespace))


@router.post("/projects", status_code=201, tags=["journal"])
async def create_project(
    namespace: str, body: CreateProject, core: Core, caller: JournalWriter
) -> ProjectInfo:
    ns = _ns(caller, core, namespace)
    agent = caller.agent_for(body.agent) if body.agent or not caller.admin else "admin"
    return await core.journal.create_project(ns, agent, body.name, body.description)


@router.get("/projects/{project}", tags=["journal"])
async def get_project(namespace: str, project: str, core: Core, caller: Caller) -> ProjectInfo:
    return await core.journal.get_project(_ns(caller, core, namespace), project)


@router.get("/projects/{project}/entries", tags=["journal"])
async def read_recent(
    namespace: str,
    project: str,
    core: Core,
    caller: Caller,
    limit: Annotated[int, Query(ge=1)] = 20,
    cursor: str | None = None,
) -> EntryPage:
    """Newest entries first; follow `next_cursor` for older ones."""
    return await core.journal.read_recent(
        _ns(caller, core, namespace), project, limit=limit, cursor_=cursor
    )


@router.post("/entries/query", tags=["journal"])
async def query_entries(namespace: str, body: QueryFilter, core: Core, caller: Caller) -> EntryPage:
    """Search entries across one or all projects of the namespace."""
    return await core.journal.query(_ns(caller, core, namespace), body)


@router.get("/projects/{project}/verify", tags=["journal"])
async def verify(
    namespace: str,
    project: str,
    core: Core,
    caller: Caller,
    witnesses: Annotated[
        int, Query(ge=0, le=64, description="Require this many witness cosignatures.")
    ] = 0,
) -> VerifyReport:
    """Recompute the hash chain and name the first bad sequence number, if any."""
    return await core.journal.verify(_ns(caller, core, namespace), project, witnesses=witnesses)


@router.post("/tokens", status_code=201, tags=["auth"])
async def create_token(
    namespace: str, body: TokenRequest, core: Core, caller: Caller
) -> dict[str, Any]:
    """Mint an agent token for this namespace (admin only)."""
    if not caller.admin:
        raise PermissionDenied("only the admin token can mint tokens")
    ns = _ns(caller, core, namespace)
    scope = None
    if body.scope is not None:
        root = body.scope.root_session
        if root is not None:  # any session of the tree names it; the claim holds its root
            root = (await core.sessions.get(ns, root)).root_id
        scope = TokenScope(
            root_session=root,
            projects=tuple(body.scope.projects) if body.scope.projects is not None else None,
        )
    token = core.tokens.mint(
        body.agent, ns, timedelta(seconds=body.ttl_seconds), scope=scope, perms=body.perms
    )
    claims = scope.claim() if scope is not None else None
    return {
        "token": token,
        "agent": body.agent,
        "namespace": ns,
        "ttl_seconds": body.ttl_seconds,
        **({"scope": claims} if claims else {}),
        **({"perms": sorted(set(body.perms))} if body.perms is not None else {}),
    }
