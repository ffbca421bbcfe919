"""Migration 0002 builds the Merkle tree of journals written under revision 0001.

A fresh database is migrated to 0001 only, entries are inserted as 0001's append wrote them
(with correct chain hashes, no leaf hashes), then the upgrade to head runs; the tree it leaves
must be the tree of those entries (checked by the independent verifier) and appends must carry
on from it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import command

from roundtable.config import Settings
from roundtable.journal.hashing import GENESIS, canonical_entry, entry_hash
from roundtable.journal.models import EntryInput
from roundtable.runtime import Roundtable
from roundtable.store import migrate
from roundtable.store.engine import Database
from roundtable.store.types import BigIntPK, JSONDoc, UTCDateTime
from tests.journal import independent

NS = "default"
#: Revision 0001's tables, only the columns 0001's append wrote.
namespaces = sa.table("namespaces", sa.column("name"), sa.column("created_at", UTCDateTime))
projects = sa.table(
    "projects",
    sa.column("id", BigIntPK),
    *(sa.column(c) for c in ("namespace", "name", "description", "created_by", "head_hash")),
    sa.column("created_at", UTCDateTime),
    sa.column("head_seq", sa.Integer),
)
entries = sa.table(
    "entries",
    sa.column("project_id", BigIntPK),
    sa.column("seq", sa.Integer),
    sa.column("ts", UTCDateTime),
    *(sa.column(c) for c in ("agent", "session_id", "status", "kind", "message")),
    sa.column("meta", JSONDoc),
    *(sa.column(c) for c in ("prev_hash", "hash")),
)


def old_rows(project: str, n: int) -> tuple[list[dict[str, Any]], list[bytes]]:
    """Entries as 0001 chained them, and their leaf hashes computed independently."""
    start = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    rows: list[dict[str, Any]] = []
    leaves: list[bytes] = []
    prev = GENESIS
    for seq in range(1, n + 1):
        fields: dict[str, Any] = {
            "seq": seq,
            "ts": start + timedelta(seconds=seq),
            "agent": f"agent-{seq % 3}",
            "session_id": None,
            "status": ("info", "success", "warn")[seq % 3],
            "kind": "progress",
            "message": f"entry {seq} — ünïcode",
            "meta": {"n": seq, "f": seq / 4, "tags": ["a", str(seq)]},
            "prev_hash": prev,
        }
        canonical = canonical_entry(namespace=NS, project=project, **fields)
        prev = entry_hash(canonical)
        rows.append({**fields, "hash": prev})
        leaves.append(independent.leaf(canonical))
    return rows, leaves


async def test_upgrade_builds_the_tree_of_old_journals(settings: Settings) -> None:
    sizes = {"big": 5_003, "one": 1, "empty": 0}  # 5,003 crosses the backfill's chunk size
    expected: dict[str, list[bytes]] = {}
    db = Database(settings.effective_database_url)
    try:
        async with db.write() as conn:
            await conn.run_sync(lambda sync: command.upgrade(migrate._config(sync), "0001"))
        now = datetime.now(UTC)
        async with db.write() as conn:
            await conn.execute(sa.insert(namespaces).values(name=NS, created_at=now))
            for name, n in sizes.items():
                rows, expected[name] = old_rows(name, n)
                pid = (
                    await conn.execute(
                        sa.insert(projects)
                        .values(
                            namespace=NS,
                            name=name,
                            description="",
                            created_by="old",
                            created_at=now,
                            head_seq=n,
                            head_hash=rows[-1]["hash"] if rows else GENESIS,
                        )
                        .returning(projects.c.id)
                    )
                ).scalar_one()
                if rows:
                    await conn.execute(sa.insert(entries), [{**r, "project_id": pid} for r in rows])
        assert await migrate.current_revision(db) == "0001"
        await migrate.upgrade(db)
    finally:
        await db.close()

    async with Roundtable.open(settings, sweeper=False) as core:
        for name, leaves in expected.items():
            head = await core.journal.tree_head(NS, name)
            assert (head.size, head.root) == (len(leaves), independent.mth(leaves).hex())
            assert (await core.journal.verify(NS, name)).ok
        big = expected["big"]
        for seq, size in ((1, 5_003), (4_096, 4_097), (5_003, 5_003), (2_500, 3_001)):
            p = await core.journal.inclusion_proof(NS, "big", seq, size)
            assert p.leaf_hash == big[seq - 1].hex()
            assert independent.verify_inclusion(
                big[seq - 1],
                seq - 1,
                size,
                [bytes.fromhex(h) for h in p.path],
                independent.mth(big[:size]),
            )
        for old, new in ((1, 5_003), (4_096, 5_003), (5_000, 5_001)):
            c = await core.journal.consistency_proof(NS, "big", old, new)
            assert independent.verify_consistency(
                old,
                new,
                independent.mth(big[:old]),
                independent.mth(big[:new]),
                [bytes.fromhex(h) for h in c.path],
            )
        async with core.db.read() as conn:
            seg = await conn.scalar(
                sa.select(sa.literal_column("segment_bytes"))
                .select_from(sa.table("projects"))
                .where(sa.literal_column("name") == "one")
            )
        rows, _ = old_rows("one", 1)
        assert seg == len(
            canonical_entry(
                namespace=NS, project="one", **{k: v for k, v in rows[0].items() if k != "hash"}
            )
        )

        # New appends continue the backfilled tree.
        added = await core.journal.append(
            NS, "one", "one", [EntryInput(message=f"new {i}") for i in range(6)]
        )
        for e in added.entries:
            expected["one"].append(
                independent.leaf(
                    canonical_entry(
                        namespace=NS,
                        project="one",
                        seq=e.seq,
                        ts=e.ts,
                        agent=e.agent,
                        session_id=e.session_id,
                        status=e.status.value,
                        kind=e.kind,
                        message=e.message,
                        meta=e.meta,
                        prev_hash=e.prev_hash,
                    )
                )
            )
        head = await core.journal.tree_head(NS, "one")
        assert (head.size, head.root) == (7, independent.mth(expected["one"]).hex())
        c = await core.journal.consistency_proof(NS, "one", 1)
        assert independent.verify_consistency(
            1,
            7,
            expected["one"][0],
            independent.mth(expected["one"]),
            [bytes.fromhex(h) for h in c.path],
        )
