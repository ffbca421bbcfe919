"""The running core: database, services and background sweeper, opened and closed together.

Every adapter (HTTP, MCP over HTTP or stdio, CLI) holds one `Roundtable` and calls its services;
none of them touches the database directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from roundtable.auth.keys import SigningKey
from roundtable.auth.tokens import ADMIN, Principal, TokenService
from roundtable.config import Settings
from roundtable.journal.service import JournalService
from roundtable.sessions.context import ContextService
from roundtable.sessions.leases import SessionService
from roundtable.sessions.limits import RateLimiter
from roundtable.store import migrate
from roundtable.store.engine import Database

log = logging.getLogger("roundtable")


@dataclass
class Roundtable:
    settings: Settings
    db: Database
    sessions: SessionService
    context: ContextService
    journal: JournalService
    limiter: RateLimiter
    tokens: TokenService

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, settings: Settings, *, sweeper: bool = True) -> AsyncIterator[Roundtable]:
        """Open the database (applying migrations), build the services, run the sweeper."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(
            settings.effective_database_url,
            busy_timeout_ms=settings.sqlite_busy_timeout_ms,
            synchronous=settings.sqlite_synchronous,
        )
        try:
            await migrate.upgrade(db)
            limiter = RateLimiter(settings.write_rate_per_second, settings.write_burst)
            sessions = SessionService(db, settings, limiter)
            core = cls(
                settings=settings,
                db=db,
                sessions=sessions,
                context=ContextService(db, settings, sessions),
                journal=JournalService(db, settings, sessions),
                limiter=limiter,
                tokens=TokenService(
                    settings.data_dir,
                    SigningKey.load_or_create(settings.data_dir),
                    settings.admin_token,
                ),
            )
            task = asyncio.create_task(core._sweep_forever()) if sweeper else None
            try:
                yield core
            finally:
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        finally:
            await db.close()

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller behind an HTTP `Authorization` header (all admin when auth is disabled)."""
        if self.settings.auth_disabled:
            return ADMIN
        scheme, _, token = (authorization or "").partition(" ")
        return self.tokens.authenticate(token.strip() if scheme.lower() == "bearer" else None)

    async def _sweep_forever(self) -> None:
        """Expire lapsed sessions every `sweep_interval_seconds`; errors are logged, then retried."""
        while True:
            await asyncio.sleep(self.settings.sweep_interval_seconds)
            try:
                expired = await self.sessions.sweep()
                if expired:
                    log.info("expired %d sessions", expired)
            except Exception:
                log.exception("session sweep failed; retrying next interval")
