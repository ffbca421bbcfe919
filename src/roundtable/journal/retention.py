"""Retention (D5): drop sealed entry bodies from the hot tables; read them back from archives.

With `hot_segments = N` set, the sweeper prunes every sealed segment older than the newest N:
its entries keep seq, ts, agent, status, kind, prev_hash, hash and leaf_hash (so the chain and
the Merkle tree stay verifiable) and lose message and meta (set to '' and {}, `pruned = true`).
It first checks the archive's SHA-256 against the segment row, so a body is never dropped
unless its archive is there and intact. Rows are pruned in chunks (short write transactions);
`segments.pruned_at` is set when the whole segment is done, so a crash mid-way is finished by
the next sweep.

Reads: `read_recent` fills pruned bodies from the archive (each line checked against the
entry's hash); `query_entries` searches the hot tables only and lists the archived ranges it
could not search (`EntryPage.archived`), never skipping them silently.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import false, func, or_, select, update

from roundtable.config import Settings
from roundtable.errors import NotFound
from roundtable.events import catalogue
from roundtable.events import log as events
from roundtable.ids import utcnow
from roundtable.journal import archive
from roundtable.journal.hashing import entry_hash
from roundtable.journal.models import ArchivedRange
from roundtable.store import tables
from roundtable.store.engine import Conn, Database

log = logging.getLogger("roundtable.retention")

E = tables.entries
P = tables.projects
S = tables.segments

#: Rows pruned per write transaction.
PRUNE_CHUNK = 5_000
JOURNAL_PRUNED = "journal.pruned"


class JournalPruned(catalogue.Payload):
    project: str
    segment: int
    first_seq: int
    last_seq: int
    archive: str


catalogue.register(JOURNAL_PRUNED, JournalPruned)


def _due(settings: Settings) -> Any:
    """Segments older than the newest `hot_segments` of their project (SQL condition)."""
    assert settings.hot_segments is not None
    inner = tables.segments.alias("newest")
    newest = select(func.max(inner.c.number)).where(inner.c.project_id == S.c.project_id)
    return S.c.number <= newest.scalar_subquery() - settings.hot_segments


async def prune_due(db: Database, settings: Settings) -> int:
    """Prune every segment retention says is due; returns how many were completed.

    A segment whose archive is missing or does not match its recorded SHA-256 is not pruned:
    that is logged as an error (an operator must restore the archive) and the rest go on.
    """
    if settings.hot_segments is None:
        return 0
    query = (
        select(S, P.c.namespace, P.c.name.label("project"))
        .select_from(S.join(P, P.c.id == S.c.project_id))
        .where(S.c.pruned_at.is_(None), _due(settings))
        .order_by(S.c.project_id, S.c.number)
    )
    async with db.read() as conn:
        due = (await conn.execute(query)).mappings().all()
    done = 0
    for seg in due:
        path = settings.data_dir / seg["archive"]
        try:
            digest = await asyncio.to_thread(archive.file_sha256, path)
        except OSError as exc:
            log.error(
                "not pruning %s/%s segment %d: its archive %s cannot be read (%s)",
                seg["namespace"], seg["project"], seg["number"], path, exc,
            )  # fmt: skip
            continue
        if digest != seg["archive_sha256"]:
            log.error(
                "not pruning %s/%s segment %d: archive %s has SHA-256 %s, the journal says %s",
                seg["namespace"], seg["project"], seg["number"], path, digest,
                seg["archive_sha256"],
            )  # fmt: skip
            continue
        await prune_segment(db, seg)
        done += 1
    return done


async def prune_segment(db: Database, seg: Any) -> None:
    """Drop the bodies of one sealed segment, chunk by chunk, then mark it pruned."""
    lo, last = int(seg["first_seq"]), int(seg["last_seq"])
    while lo <= last:
        hi = min(lo + PRUNE_CHUNK - 1, last)
        async with db.write() as conn:
            await conn.execute(
                update(E)
                .where(E.c.project_id == seg["project_id"], E.c.seq.between(lo, hi))
                .where(E.c.pruned == false())
                .values(message="", meta={}, pruned=True)
            )
        lo = hi + 1
    now = utcnow()
    async with db.write() as conn:
        await conn.execute(
            update(S)
            .where(S.c.project_id == seg["project_id"], S.c.number == seg["number"])
            .values(pruned_at=now)
        )
        await events.record(
            conn,
            events.event_row(
                now,
                seg["namespace"],
                JOURNAL_PRUNED,
                {
                    "project": seg["project"],
                    "segment": seg["number"],
                    "first_seq": seg["first_seq"],
                    "last_seq": seg["last_seq"],
                    "archive": seg["archive"],
                },
                project=seg["project"],
            ),
        )


async def fill_pruned(
    conn: Conn, data_dir: Path, project_id: int, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """`rows` with every pruned body read back from its archive and checked against its hash."""
    pruned = [row for row in rows if row["pruned"]]
    if not pruned:
        return rows
    seqs = [int(row["seq"]) for row in pruned]
    segs = (
        await conn.execute(
            select(S.c.number, S.c.first_seq, S.c.last_seq, S.c.archive).where(
                S.c.project_id == project_id,
                S.c.first_seq <= max(seqs),
                S.c.last_seq >= min(seqs),
            )
        )
    ).all()
    bodies: dict[int, bytes] = {}
    for seg in segs:
        wanted = {s for s in seqs if seg.first_seq <= s <= seg.last_seq}
        path = data_dir / seg.archive
        try:
            found = await asyncio.to_thread(archive.read_range, path, seg.first_seq, wanted)
        except OSError as exc:
            raise NotFound(
                f"entries {min(wanted)}..{max(wanted)} were pruned and their archive "
                f"{seg.archive} cannot be read: {exc}",
                archive=seg.archive,
            ) from None
        bodies.update(found)
    filled: list[dict[str, Any]] = []
    for row in rows:
        if row["pruned"]:
            line = bodies.get(int(row["seq"]))
            if line is None or entry_hash(line) != row["hash"]:
                raise NotFound(
                    f"entry {row['seq']} was pruned and its archive does not hold it intact "
                    "(run verify)",
                    seq=row["seq"],
                )
            body = json.loads(line)
            row = {**row, "message": body["message"], "meta": body["meta"]}
        filled.append(row)
    return filled


async def archived_ranges(
    conn: Conn, settings: Settings, namespace: str, projects: list[str] | None,
    seq_min: int | None, seq_max: int | None,
) -> list[ArchivedRange]:  # fmt: skip
    """Sealed ranges whose bodies are (or are being) pruned: a query cannot search them."""
    pruned: Any = S.c.pruned_at.is_not(None)
    if settings.hot_segments is not None:
        pruned = or_(pruned, _due(settings))
    query = (
        select(P.c.name, S.c.number, S.c.first_seq, S.c.last_seq, S.c.archive)
        .select_from(S.join(P, P.c.id == S.c.project_id))
        .where(P.c.namespace == namespace, pruned)
        .order_by(P.c.name, S.c.number)
    )
    if projects is not None:
        query = query.where(P.c.name.in_(projects))
    if seq_min is not None:
        query = query.where(S.c.last_seq >= seq_min)
    if seq_max is not None:
        query = query.where(S.c.first_seq <= seq_max)
    return [
        ArchivedRange(
            project=row.name,
            segment=row.number,
            first_seq=row.first_seq,
            last_seq=row.last_seq,
            archive=row.archive,
        )
        for row in await conn.execute(query)
    ]
