"""The client state cache (D15): an agent's session, project and version, kept for warm starts.

The CLI and the stdio MCP server remember, per server, namespace and agent, the session the agent
started and the project and context version it last saw, so the next command or the next
`roundtable mcp` process can pick up where the last one stopped. The file is a cache and nothing
trusts it over the database: it is validated on read, reconciled with the server's answers
(`reconcile`), and discarded with a warning when it is corrupt, belongs to another server, or
names a session that is no longer active or a project that no longer exists.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from roundtable.errors import NotFound
from roundtable.ids import utcnow
from roundtable.sessions.models import ContextInfo, SessionInfo, SessionStatus

log = logging.getLogger("roundtable.state")

#: Warnings go here (stderr for the CLI; the log for `roundtable mcp`).
Warn = Callable[[str], None]


class ClientState(BaseModel):
    """What one agent's client remembers between processes."""

    model_config = ConfigDict(extra="forbid")

    v: Literal[1] = 1
    server: str = Field(description="Digest of the server URL or database this state is for.")
    namespace: str
    agent: str
    session_id: str | None = None
    project: str | None = None
    version: int | None = Field(default=None, ge=0)
    saved_at: datetime


def server_digest(server: str) -> str:
    """Stands for a server URL or database URL without writing it (or its password) down."""
    return hashlib.sha256(server.encode()).hexdigest()[:16]


def state_path(state_dir: Path, server: str, namespace: str, agent: str) -> Path:
    """One file per server, namespace and agent (the names are validated before they get here)."""
    return state_dir / server_digest(server) / namespace / f"{agent}.json"


@dataclass
class StateCache:
    """Load, save and reconcile one agent's state file."""

    path: Path
    server: str
    namespace: str
    agent: str
    warn: Warn = field(default=log.warning)

    @classmethod
    def for_agent(
        cls, state_dir: Path, server: str, namespace: str, agent: str, warn: Warn | None = None
    ) -> StateCache:
        path = state_path(state_dir, server, namespace, agent)
        return cls(path, server_digest(server), namespace, agent, warn or log.warning)

    def load(self) -> ClientState | None:
        """The cached state, or None; a corrupt or foreign file is discarded with a warning."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            self.warn(f"state cache {self.path} is unreadable ({exc}); ignoring it")
            return None
        try:
            state = ClientState.model_validate_json(raw)
        except ValidationError as exc:
            first = exc.errors()[0]["msg"] if exc.errors() else str(exc)
            self.discard(f"it is corrupt ({first})")
            return None
        if (state.server, state.namespace, state.agent) != (
            self.server,
            self.namespace,
            self.agent,
        ):
            self.discard("it belongs to another server, namespace or agent")
            return None
        return state

    def save(self, **changes: object) -> ClientState:
        """Merge `changes` into the cached state and write it atomically (mode 0600)."""
        current = self.load() or ClientState(
            server=self.server, namespace=self.namespace, agent=self.agent, saved_at=utcnow()
        )
        state = current.model_copy(update={**changes, "saved_at": utcnow()})
        ClientState.model_validate(state.model_dump())  # refuse to write what we could not read
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".state-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(state.model_dump_json(indent=2))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return state

    def discard(self, why: str) -> None:
        """Remove the file, saying why (a cache is never silently dropped)."""
        self.warn(f"discarding the state cache {self.path}: {why}")
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def reconcile(
        self,
        get_session: Callable[[str], Awaitable[SessionInfo]],
        get_context: Callable[[], Awaitable[ContextInfo]],
        project_exists: Callable[[str], Awaitable[bool]],
    ) -> ClientState | None:
        """The cached state checked against the database; what disagrees is replaced by the truth.

        - a session that ended, expired or is unknown is forgotten (warning);
        - a version or project that differs from the agent's context is stale: the database's
          project and version replace it (warning);
        - a project the database no longer has is forgotten (warning).
        """
        state = self.load()
        if state is None:
            return None
        changes: dict[str, object] = {}
        if state.session_id is not None:
            try:
                session = await get_session(state.session_id)
            except NotFound:
                session = None
            if session is None or session.status != SessionStatus.ACTIVE:
                what = "is unknown" if session is None else f"is {session.status.value}"
                self.warn(f"cached session {state.session_id} {what}; forgetting it")
                changes["session_id"] = None
        context = await get_context()
        if state.project is not None and not await project_exists(state.project):
            self.warn(f"cached project {state.project!r} no longer exists; forgetting it")
            changes.update(project=context.project, version=context.version)
        elif (state.project, state.version) != (context.project, context.version):
            if state.version is not None:
                self.warn(
                    f"cached context is stale (project {state.project!r} at version "
                    f"{state.version}; the database has {context.project!r} at version "
                    f"{context.version}); using the database's"
                )
            changes.update(project=context.project, version=context.version)
        if not changes:
            return state
        return self.save(**changes)
