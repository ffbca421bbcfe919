"""`roundtable export`: one namespace as JSONL (see `transfer.records` for the format).

Consistent without a long snapshot: each project's head is read first and only entries,
segments and checkpoints at or below it are written; the journal is append-only, so anything
appended meanwhile is simply left for the next export. Entry bodies pruned by retention are read
back from their segment's archive and checked against the entry's hash (`retention.fill_pruned`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from roundtable.errors import NotFound
from roundtable.ids import utcnow
from roundtable.journal import retention
from roundtable.journal.hashing import FORMAT_VERSION, format_ts
from roundtable.runtime import Roundtable
from roundtable.store import tables
from roundtable.transfer import records as r
from roundtable.validation import check_name
from roundtable.witness.audit import read_cosigned
from roundtable.witness.cosign import verifier_key
from roundtable.witness.submit import cosigned_records, parse_witnesses

E, P, S, C = tables.entries, tables.projects, tables.segments, tables.checkpoints
CHUNK = 2_000


def _ts(value: datetime | None) -> str | None:
    return None if value is None else format_ts(value)


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


async def count_entries(core: Roundtable, namespace: str) -> int:
    """Total entries to export (for a progress bar)."""
    async with core.db.read() as conn:
        rows = await conn.execute(select(P.c.head_seq).where(P.c.namespace == namespace))
        return sum(int(x) for x in rows.scalars())


async def export_namespace(
    core: Roundtable,
    namespace: str,
    write: Callable[[str], object],
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Write the namespace's lines through `write`; returns the count of each record type."""
    check_name("namespace", namespace)
    counts: dict[str, int] = {}

    def emit(record: dict[str, Any]) -> None:
        counts[record["type"]] = counts.get(record["type"], 0) + 1
        write(_line(record))

    async with core.db.read() as conn:
        heads = (
            (await conn.execute(select(P).where(P.c.namespace == namespace).order_by(P.c.name)))
            .mappings()
            .all()
        )
        if not heads:
            raise NotFound(
                f"namespace {namespace!r} has no projects to export", namespace=namespace
            )
        ids = [h["id"] for h in heads]
        kids = select(C.c.key_id).where(C.c.project_id.in_(ids)).distinct()
        keys = (
            (
                await conn.execute(
                    select(tables.signing_keys)
                    .where(tables.signing_keys.c.kid.in_(kids))
                    .order_by(tables.signing_keys.c.kid)
                )
            )
            .mappings()
            .all()
        )
    emit(
        {
            "type": "header",
            "format": r.FORMAT,
            "version": r.VERSION,
            "namespace": namespace,
            "exported_at": format_ts(utcnow()),
            "origin": core.settings.log_origin,
            "hash_format": FORMAT_VERSION,
        }
    )
    for key in keys:
        emit(
            {
                "type": "signing_key",
                "kid": key["kid"],
                "algorithm": key["algorithm"],
                "public_key": key["public_key"],
                "created_at": _ts(key["created_at"]),
                "retired_at": _ts(key["retired_at"]),
            }
        )
    for witness in parse_witnesses(core.settings.witnesses):
        emit(
            {
                "type": "witness_key",
                "key": verifier_key(witness.cosigner.name, witness.cosigner.public_raw),
            }
        )
    for head in heads:
        await _export_project(core, namespace, head, emit, progress)
    async with core.db.read() as conn:
        agents = (
            (
                await conn.execute(
                    select(tables.agents)
                    .where(tables.agents.c.namespace == namespace)
                    .order_by(tables.agents.c.name)
                )
            )
            .mappings()
            .all()
        )
        AC = tables.agent_context
        contexts = (
            (
                await conn.execute(
                    select(AC, P.c.name.label("project"))
                    .select_from(AC.outerjoin(P, AC.c.project_id == P.c.id))
                    .where(AC.c.namespace == namespace)
                    .order_by(AC.c.agent)
                )
            )
            .mappings()
            .all()
        )
    for a in agents:
        emit(
            {
                "type": "agent",
                "name": a["name"],
                "first_seen": _ts(a["first_seen"]),
                "last_seen": _ts(a["last_seen"]),
                "blueprint": a["blueprint"],
            }
        )
    for c in contexts:
        emit(
            {
                "type": "context",
                "agent": c["agent"],
                "project": c["project"],
                "version": c["version"],
                "updated_at": _ts(c["updated_at"]),
            }
        )
    write(_line({"type": "end", "counts": dict(counts)}))
    return counts


async def _export_project(
    core: Roundtable,
    namespace: str,
    head: Any,
    emit: Callable[[dict[str, Any]], None],
    progress: Callable[[int], None] | None,
) -> None:
    pid, size, name = head["id"], head["head_seq"], head["name"]
    emit(
        {
            "type": "project",
            "name": name,
            "description": head["description"],
            "created_at": _ts(head["created_at"]),
            "created_by": head["created_by"],
            "head_seq": size,
            "head_hash": head["head_hash"],
        }
    )
    async with core.db.read() as conn:
        segments = (
            (
                await conn.execute(
                    select(S)
                    .where(S.c.project_id == pid, S.c.last_seq <= size)
                    .order_by(S.c.number)
                )
            )
            .mappings()
            .all()
        )
        checkpoints = (
            (
                await conn.execute(
                    select(C).where(C.c.project_id == pid, C.c.size <= size).order_by(C.c.id)
                )
            )
            .mappings()
            .all()
        )
    for seg in segments:
        emit(
            {
                "type": "segment",
                "project": name,
                **{k: seg[k] for k in ("number", "first_seq", "last_seq", "root", "tree_root")},
                "archive_sha256": seg["archive_sha256"],
                "rotation_seq": seg["rotation_seq"],
                "created_at": _ts(seg["created_at"]),
                "pruned_at": _ts(seg["pruned_at"]),
            }
        )
    after = 0
    while after < size:
        async with core.db.read() as conn:
            rows = (
                (
                    await conn.execute(
                        select(E)
                        .where(E.c.project_id == pid, E.c.seq > after, E.c.seq <= size)
                        .order_by(E.c.seq)
                        .limit(CHUNK)
                    )
                )
                .mappings()
                .all()
            )
            if not rows:
                raise NotFound(f"project {name!r}: entry {after + 1} is missing; run verify")
            # Bodies pruned by retention come back from their archive, checked against the hash.
            filled = await retention.fill_pruned(
                conn, core.settings.data_dir, pid, [dict(row) for row in rows]
            )
        for row in filled:
            message, meta = row["message"], row["meta"]
            emit(
                {
                    "type": "entry",
                    "project": name,
                    "seq": row["seq"],
                    "ts": format_ts(row["ts"]),
                    "agent": row["agent"],
                    "session_id": row["session_id"],
                    "status": row["status"],
                    "kind": row["kind"],
                    "message": message,
                    "meta": meta,
                    "prev_hash": row["prev_hash"],
                    "hash": row["hash"],
                    "leaf_hash": row["leaf_hash"],
                }
            )
        after = rows[-1]["seq"]
        if progress is not None:
            progress(len(rows))
    for cp in checkpoints:
        emit(
            {
                "type": "checkpoint",
                "project": name,
                "size": cp["size"],
                "root": cp["root"],
                "key_id": cp["key_id"],
                "note": cp["note"],
                "created_at": _ts(cp["created_at"]),
            }
        )
    for kept in cosigned_records(core.settings.data_dir, namespace, name):
        body = read_cosigned(str(kept["note"]), [])
        if body is not None and body.size <= size:  # what the export's entries reach
            emit({"type": "cosigned", "project": name, "note": kept["note"]})
