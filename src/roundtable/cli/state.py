"""The CLI's warm start (D15): remember the agent's session and context between commands.

`session start` remembers the session, `project use` the project and version; later commands
that take `--session` default to the remembered session once the server confirms it is still
active. Everything read back is reconciled with the server first (`StateCache.reconcile`), and
whatever disagrees is dropped with a warning on stderr.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from roundtable.cli.common import Target, err
from roundtable.client.http import RoundtableClient
from roundtable.client.state import ClientState, StateCache
from roundtable.errors import NotFound
from roundtable.validation import check_name

#: `--session` of the commands that write as the agent; it defaults to the remembered session.
SessionOpt = Annotated[
    str | None,
    typer.Option(
        "--session",
        help="Session to write in, renewing its lease (default: the remembered one while the "
        "server says it is active).",
    ),
]


def _warn(message: str) -> None:
    err.print(f"[yellow]warning:[/yellow] {escape(message)}", soft_wrap=True)


def cache_for(t: Target) -> StateCache | None:
    """The agent's state file for this server and namespace (None when no agent is known)."""
    if t.agent is None:
        return None
    agent = check_name("agent", t.agent)
    return StateCache.for_agent(t.settings.data_dir / "state", t.url, t.namespace, agent, _warn)


async def reconciled(t: Target, client: RoundtableClient) -> ClientState | None:
    """The remembered state after checking it against the server (None if there is none)."""
    cache = cache_for(t)
    if cache is None or t.agent is None:
        return None
    agent = t.agent

    async def exists(project: str) -> bool:
        try:
            await client.get_project(project)
        except NotFound:
            return False
        return True

    return await cache.reconcile(
        client.get_session, lambda: client.get_context(agent), project_exists=exists
    )


async def session_or_remembered(
    t: Target, client: RoundtableClient, session: str | None
) -> str | None:
    """`--session` if given, else the remembered session if the server says it is active."""
    if session is not None:
        return session
    state = await reconciled(t, client)
    return state.session_id if state else None


def remember(t: Target, **changes: object) -> None:
    """Merge `changes` into the agent's state file (nothing happens without a known agent)."""
    cache = cache_for(t)
    if cache is not None:
        cache.save(**changes)


def forget_session(t: Target, session_id: str) -> None:
    """Drop `session_id` from the state file if it is the one remembered."""
    cache = cache_for(t)
    if cache is None:
        return
    state = cache.load()
    if state is not None and state.session_id == session_id:
        cache.save(session_id=None)
