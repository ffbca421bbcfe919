"""`roundtable session start|end|list`: leased working periods of an agent, over HTTP."""

from __future__ import annotations

from typing import Annotated

import typer

from roundtable.cli import render
from roundtable.cli.common import (
    AgentOpt,
    JsonOpt,
    NamespaceOpt,
    TokenOpt,
    UrlOpt,
    err,
    out,
    print_json,
    target,
)
from roundtable.cli.state import forget_session, remember
from roundtable.client.http import RoundtableClient
from roundtable.errors import InvalidInput
from roundtable.sessions.models import EndStatus, SessionInfo, SessionStatus
from roundtable.validation import check_meta

app = typer.Typer(help="Start, end and list sessions.", no_args_is_help=True)


@app.command("start")
def start(
    meta: Annotated[
        str | None, typer.Option("--meta", help="Session metadata as a JSON object.")
    ] = None,
    parent: Annotated[str | None, typer.Option("--parent", help="Parent session id.")] = None,
    agent: AgentOpt = None,
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Start a leased session and print its id.

    The session is remembered for this agent: later `log append` and `project use` commands
    without --session write in it while it is active."""
    t = target(url=url, token=token, namespace=namespace, agent=agent)

    async def work(client: RoundtableClient) -> SessionInfo:
        metadata = check_meta(meta, t.settings.max_meta_bytes)
        return await client.start_session(t.agent, metadata=metadata, parent_id=parent)

    session = t.call(work)
    remember(t.with_agent(session.agent), session_id=session.id)
    if json_:
        print_json(session)
        return
    typer.echo(session.id)
    err.print(
        f"session for [blue]{session.agent}[/blue] started; "
        f"lease until {render.when(session.lease_expires_at)}",
        markup=True,
        highlight=False,
    )


@app.command("end")
def end(
    session_id: Annotated[
        str | None,
        typer.Argument(help="Session to end (default: the agent's only active session)."),
    ] = None,
    status: Annotated[
        EndStatus, typer.Option("--status", help="How the session ended.")
    ] = EndStatus.FINISHED,
    agent: AgentOpt = None,
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """End a session. Without an id, ends the agent's active session if it has exactly one."""
    t = target(url=url, token=token, namespace=namespace, agent=agent)

    async def work(client: RoundtableClient) -> SessionInfo:
        chosen = session_id
        if chosen is None:
            who = t.require_agent()
            active = await client.list_sessions(agent=who, status=SessionStatus.ACTIVE)
            if len(active) != 1:
                raise InvalidInput(
                    f"agent {who!r} has {len(active)} active sessions: name the one to end",
                    field="session_id",
                    active=[s.id for s in active],
                )
            chosen = active[0].id
        return await client.end_session(chosen, status=status, agent=t.agent)

    session = t.call(work)
    forget_session(t.with_agent(session.agent), session.id)
    if json_:
        print_json(session)
        return
    out.print(render.sessions_table([session]))


@app.command("list")
def list_(
    agent: Annotated[
        str | None, typer.Option("--agent", "-a", help="Only this agent's sessions.")
    ] = None,
    status: Annotated[
        SessionStatus | None, typer.Option("--status", help="Only sessions in this status.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 100,
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """List sessions, newest first."""
    t = target(url=url, token=token, namespace=namespace)
    sessions = t.call(lambda c: c.list_sessions(agent=agent, status=status, limit=limit))
    if json_:
        print_json(sessions)
        return
    if not sessions:
        err.print("no sessions")
        return
    out.print(render.sessions_table(sessions))
