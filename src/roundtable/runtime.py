"""The running core: database, services and background sweeper, opened and closed together.

Every adapter (HTTP, MCP over HTTP or stdio, CLI) holds one `Roundtable` and calls its services;
none of them touches the database directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from roundtable.auth.keyring import Keyring
from roundtable.auth.tokens import ADMIN, Principal, TokenService
from roundtable.config import Settings
from roundtable.documents.service import DocumentService
from roundtable.events.service import EventService
from roundtable.ids import utcnow
from roundtable.journal import checkpoints
from roundtable.journal.autorotate import AutoRotator
from roundtable.journal.checkpoints import CheckpointSigner
from roundtable.journal.mirror_service import MirrorService
from roundtable.journal.rotation import RotationService
from roundtable.journal.service import JournalService
from roundtable.orchestration.service import Orchestration
from roundtable.sessions.context import ContextService
from roundtable.sessions.expensive import CALLER
from roundtable.sessions.leases import SessionService
from roundtable.sessions.limits import RateLimiter
from roundtable.store import migrate
from roundtable.store.engine import Database
from roundtable.witness.submit import WitnessSubmitter, parse_witnesses

log = logging.getLogger("roundtable")

#: How often the sweeper runs SQLite's `PRAGMA optimize` (the first time, one interval after
#: start: the database ran `PRAGMA optimize=0x10002` when it opened).
OPTIMIZE_EVERY_SECONDS = 3600.0


@dataclass
class Roundtable:
    settings: Settings
    db: Database
    sessions: SessionService
    context: ContextService
    journal: JournalService
    limiter: RateLimiter
    tokens: TokenService
    keyring: Keyring
    signer: CheckpointSigner
    events: EventService
    mirrors: MirrorService
    rotation: RotationService
    autorotate: AutoRotator
    orchestration: Orchestration
    documents: DocumentService
    _optimized_at: float = field(default_factory=time.monotonic, init=False)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, settings: Settings, *, sweeper: bool = True) -> AsyncIterator[Roundtable]:
        """Open the database (applying migrations), build the services, run the sweeper."""
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        db = Database(
            settings.effective_database_url,
            busy_timeout_ms=settings.sqlite_busy_timeout_ms,
            synchronous=settings.sqlite_synchronous,
        )
        try:
            await migrate.upgrade(db)
            try:
                await db.optimize(opening=True)
            except Exception:  # statistics only: the database works without them
                log.warning("PRAGMA optimize failed on open; continuing", exc_info=True)
            limiter = RateLimiter(settings.write_rate_per_second, settings.write_burst)
            sessions = SessionService(db, settings, limiter)
            keyring = await Keyring.open(db, settings.data_dir)
            signer = CheckpointSigner(keyring, settings)
            witnesses = parse_witnesses(settings.witnesses)
            if witnesses:
                signer.witness = WitnessSubmitter(db, settings.data_dir, witnesses)
            journal = JournalService(db, settings, sessions, signer=signer)
            mirrors = MirrorService(db, settings)
            rotation = RotationService(db, settings, journal, signer, mirrors)
            autorotate = AutoRotator(db, settings, rotation, mirrors)
            journal.after_commit.append(autorotate.after_append)
            tokens = TokenService(
                settings.data_dir,
                keyring.current,
                settings.admin_token,
                keyring,
                settings.trusted_keys,
            )
            events = EventService(db, settings)
            core = cls(
                settings=settings,
                db=db,
                sessions=sessions,
                context=ContextService(db, settings, sessions),
                journal=journal,
                limiter=limiter,
                tokens=tokens,
                keyring=keyring,
                signer=signer,
                events=events,
                mirrors=mirrors,
                rotation=rotation,
                autorotate=autorotate,
                orchestration=Orchestration.build(db, settings, tokens, journal, events),
                documents=DocumentService(db, settings, limiter),
            )
            task = asyncio.create_task(core._sweep_forever()) if sweeper else None
            try:
                yield core
            finally:
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await core.autorotate.close()
                if signer.witness is not None:
                    await signer.witness.settle()
                await core.events.close()
        finally:
            await db.close()

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller behind an HTTP `Authorization` header (all admin when auth is disabled)."""
        if self.settings.auth_disabled:
            principal = ADMIN
        else:
            scheme, _, token = (authorization or "").partition(" ")
            principal = self.tokens.authenticate(
                token.strip() if scheme.lower() == "bearer" else None
            )
        # Who the rest of this request's work is counted against (expensive-query limits).
        CALLER.set("admin" if principal.admin else f"{principal.namespace}/{principal.agent}")
        return principal

    async def authenticate_async(self, authorization: str | None) -> Principal:
        """`authenticate`, first reloading the keyring if the token names a key we do not hold
        (one minted by another instance sharing the database, or after a key rotation)."""
        _, _, token = (authorization or "").partition(" ")
        if not self.settings.auth_disabled and self.tokens.unknown_kid(token.strip()):
            await self.keyring.reload_for_unknown_kid(self.db)
        return self.authenticate(authorization)

    async def _sweep_forever(self) -> None:
        """Run the background passes every `sweep_interval_seconds`.

        A pass that fails is logged with its traceback and retried at the next interval; one
        failing pass never stops the others.
        """
        passes: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("session sweep", self._expire_sessions),
            ("checkpoint pass", self._sign_due_checkpoints),
            ("event retention pass", self._prune_events),
            ("rotation/retention pass", self.autorotate.maintain),
            ("orchestration pass", self._sweep_orchestration),
            ("document retention pass", self._expire_documents),
            ("database optimize pass", self._optimize),
        ]
        while True:
            await asyncio.sleep(self.settings.sweep_interval_seconds)
            for name, run in passes:
                try:
                    await run()
                except Exception:
                    log.exception("%s failed; retrying next interval", name)

    async def _expire_sessions(self) -> None:
        expired = await self.sessions.sweep()
        if expired:
            log.info("expired %d sessions", expired)

    async def _sign_due_checkpoints(self) -> None:
        if await self.keyring.follow_rotation(self.db):
            log.info("signing with the rotated key %s", self.keyring.current.kid)
        signed = await checkpoints.sign_due(self.db, self.signer, self.settings, utcnow())
        if signed:
            log.info("signed %d checkpoints", signed)

    async def _sweep_orchestration(self) -> None:
        done = {k: v for k, v in (await self.orchestration.sweeper.sweep()).items() if v}
        if done:
            log.info("orchestration sweep: %s", done)

    async def _expire_documents(self) -> None:
        expired = await self.documents.expire()
        if expired:
            log.info("removed %d temporal documents past retention", expired)

    async def _optimize(self) -> None:
        """`PRAGMA optimize` on SQLite every `OPTIMIZE_EVERY_SECONDS` (SQLite's advice for a
        long-lived connection: every few hours; cheap when the statistics are current)."""
        now = time.monotonic()
        if now - self._optimized_at >= OPTIMIZE_EVERY_SECONDS:
            self._optimized_at = now
            await self.db.optimize()

    async def _prune_events(self) -> None:
        pruned = await self.events.prune()
        if pruned:
            log.info("pruned %d events past retention", pruned)
