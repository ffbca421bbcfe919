"""Warm start for `roundtable mcp` (D15): an agent's session survives a restart of its server.

MCP clients restart stdio servers freely (a new editor window, a crashed process). The stdio
server therefore keeps its agent's session, project and version in a state file. On start the
file is reconciled with the database: a session that is still active becomes the default
`session_id` of the tools that take one (so the restarted server keeps renewing the same lease);
anything stale, corrupt or gone is discarded with a warning on stderr. Only the declared agent
(`ROUNDTABLE_AGENT`) in the default namespace gets a warm start; the database always wins.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from roundtable.client.state import StateCache
from roundtable.errors import NotFound
from roundtable.runtime import Roundtable
from roundtable.sessions.models import ContextInfo, SessionInfo
from roundtable.validation import check_name

log = logging.getLogger("roundtable.mcp")


@dataclass
class WarmStart:
    """The stdio server's remembered session and context for its one agent."""

    cache: StateCache
    namespace: str
    agent: str
    session_id: str | None = None
    #: Saves run here, one at a time in call order: the fsync and rename of the state file
    #: stay off the event loop, and a tool still answers only once its save is durable.
    _saver: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="roundtable-state")
    )

    async def _save(self, **changes: object) -> None:
        await asyncio.get_running_loop().run_in_executor(
            self._saver, lambda: self.cache.save(**changes)
        )

    @classmethod
    async def load(cls, core: Roundtable) -> WarmStart | None:
        """Read and reconcile the state file (None when no agent is declared)."""
        settings = core.settings
        if settings.agent is None:
            return None
        agent = check_name("agent", settings.agent)
        namespace = check_name("namespace", settings.namespace)
        cache = StateCache.for_agent(
            settings.data_dir / "state", settings.effective_database_url, namespace, agent
        )

        async def exists(project: str) -> bool:
            try:
                await core.journal.get_project(namespace, project)
            except NotFound:
                return False
            return True

        state = await cache.reconcile(
            lambda sid: core.sessions.get(namespace, sid),
            lambda: core.context.get(namespace, agent),
            project_exists=exists,
        )
        warm = cls(cache, namespace, agent)
        if state is not None and state.session_id is not None:
            warm.session_id = state.session_id
            log.info("warm start: resuming session %s of %s", state.session_id, agent)
        return warm

    def applies(self, namespace: str, agent: str) -> bool:
        return (namespace, agent) == (self.namespace, self.agent)

    def session_for(self, namespace: str, agent: str, session_id: str | None) -> str | None:
        """The session a call names, else the remembered one for this server's agent."""
        if session_id is not None or not self.applies(namespace, agent):
            return session_id
        return self.session_id

    async def started(self, session: SessionInfo) -> None:
        if self.applies(session.namespace, session.agent):
            self.session_id = session.id
            await self._save(session_id=session.id)

    async def ended(self, session: SessionInfo) -> None:
        if self.applies(session.namespace, session.agent) and session.id == self.session_id:
            self.session_id = None
            await self._save(session_id=None)

    async def context(self, context: ContextInfo) -> None:
        if self.applies(context.namespace, context.agent):
            await self._save(project=context.project, version=context.version)
