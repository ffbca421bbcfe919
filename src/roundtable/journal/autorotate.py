"""Automatic rotation and the journal's post-commit work (D5).

After an append commits, `after_append` (1) syncs the project's Markdown mirror, if any, and
(2) if the open segment may have passed `rotate_max_entries` or `rotate_max_bytes` (0 disables
either), starts a background check on the core that rotates when the database confirms it. The
append never waits for a rotation and never fails because of one. A failed automatic rotation
is logged as an error with its traceback and retried later: by the next append past the
threshold once a backoff (doubling from 5 s to 5 min) has passed, or by the sweeper's
`maintain`, which also applies retention.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from roundtable.config import Settings
from roundtable.errors import ConflictError
from roundtable.journal import mirror, retention
from roundtable.journal.mirror_service import MirrorService
from roundtable.journal.models import AppendResult
from roundtable.journal.rotation import RotationService
from roundtable.store import tables
from roundtable.store.engine import Database

log = logging.getLogger("roundtable.rotation")

P = tables.projects
#: Canonical bytes of an entry beyond its message and meta (field names, hashes, ts...).
ENTRY_OVERHEAD = 300
#: `str(meta)` is at most this many times meta's canonical JSON bytes (at most 2.5: `\U0001xxxx`
#: for a 4-byte non-printable character; `, ` and `: ` for `,` and `:`), with room to spare.
META_REPR_FACTOR = 10
BACKOFF_MIN, BACKOFF_MAX = 5.0, 300.0


@dataclass
class _Failure:
    namespace: str
    project: str
    retry_at: float
    backoff: float


class AutoRotator:
    def __init__(
        self, db: Database, settings: Settings, rotation: RotationService, mirrors: MirrorService
    ) -> None:
        self.db = db
        self.settings = settings
        self.rotation = rotation
        self.mirrors = mirrors
        #: project id -> first seq of its open segment, as last seen (stale is harmless).
        self._segment_start: dict[int, int] = {}
        self._running: dict[int, asyncio.Task[None]] = {}
        self._failed: dict[int, _Failure] = {}

    async def after_append(self, namespace: str, head: Any, result: AppendResult) -> None:
        """Post-commit hook of `JournalService.append`; `head` is the row before the append."""
        await self.mirrors.after_append(namespace, head)
        if self._may_be_due(head, result):
            self.check(namespace, str(head.name), int(head.id))

    def _may_be_due(self, head: Any, result: AppendResult) -> bool:
        s = self.settings
        if s.rotate_max_entries:
            start = self._segment_start.get(int(head.id))
            if start is None or result.last_seq - start + 1 >= s.rotate_max_entries:
                return True
        if s.rotate_max_bytes:
            size = int(head.segment_bytes)
            # Nearly every append is far below the limit even if its entries were as large as
            # they may be: only near it are they measured (`str(meta)` was ~2 % of an append).
            largest = ENTRY_OVERHEAD + 4 * s.max_message_chars + META_REPR_FACTOR * s.max_meta_bytes
            if size + len(result.entries) * largest < s.rotate_max_bytes:
                return False
            added = sum(
                ENTRY_OVERHEAD + len(e.message.encode()) + len(str(e.meta)) for e in result.entries
            )
            if size + added >= s.rotate_max_bytes:
                return True
        return False

    def check(self, namespace: str, project: str, project_id: int) -> None:
        """Start a background check of one project, unless one runs or a retry is not due."""
        failure = self._failed.get(project_id)
        if failure is not None and time.monotonic() < failure.retry_at:
            return
        task = self._running.get(project_id)
        if task is not None and not task.done():
            return
        self._running[project_id] = asyncio.create_task(
            self._check(namespace, project, project_id), name=f"autorotate {namespace}/{project}"
        )

    async def _check(self, namespace: str, project: str, project_id: int) -> None:
        try:
            if await self._due(project_id):
                result = await self.rotation.rotate(namespace, project)
                self._segment_start[project_id] = result.last_seq + 1
                log.info(
                    "rotated %s/%s segment %d (seq %d-%d) automatically",
                    namespace, project, result.segment, result.first_seq, result.last_seq,
                )  # fmt: skip
            self._failed.pop(project_id, None)
        except ConflictError as error:
            log.info("automatic rotation of %s/%s: %s", namespace, project, error.message)
            self._failed.pop(project_id, None)
        except Exception:
            previous = self._failed.get(project_id)
            backoff = min(BACKOFF_MAX, previous.backoff * 2) if previous else BACKOFF_MIN
            self._failed[project_id] = _Failure(
                namespace, project, time.monotonic() + backoff, backoff
            )
            log.exception(
                "automatic rotation of %s/%s failed; retrying in %.0f s",
                namespace,
                project,
                backoff,
            )

    async def _due(self, project_id: int) -> bool:
        async with self.db.read() as conn:
            segment = await mirror.open_segment(conn, project_id)
            row = (
                await conn.execute(
                    select(P.c.head_seq, P.c.segment_bytes).where(P.c.id == project_id)
                )
            ).one()
        self._segment_start[project_id] = segment.first_seq
        s = self.settings
        entries = int(row.head_seq) - segment.first_seq + 1
        by_entries = bool(s.rotate_max_entries) and entries >= s.rotate_max_entries
        by_bytes = bool(s.rotate_max_bytes) and int(row.segment_bytes) >= s.rotate_max_bytes
        return by_entries or by_bytes

    async def maintain(self) -> None:
        """Sweeper work: retry failed automatic rotations that are due, apply retention."""
        now = time.monotonic()
        for project_id, failure in list(self._failed.items()):
            if now >= failure.retry_at:
                self.check(failure.namespace, failure.project, project_id)
        pruned = await retention.prune_due(self.db, self.settings)
        if pruned:
            log.info("retention pruned the bodies of %d sealed segment(s)", pruned)

    async def wait_idle(self) -> None:
        """Wait for running background checks (tests, shutdown)."""
        tasks = [t for t in self._running.values() if not t.done()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        """Cancel background checks: a rotation cut short rolls back (see `rotation`)."""
        for task in self._running.values():
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
        self._running.clear()
