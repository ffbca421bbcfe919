"""Export a namespace as JSONL and restore it into a fresh database, on both backends."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from roundtable.config import Settings
from roundtable.errors import ConflictError, InvalidInput
from roundtable.journal.models import EntryInput
from roundtable.runtime import Roundtable
from roundtable.store import tables
from roundtable.transfer.export import export_namespace
from roundtable.transfer.restore import restore
from tests.conftest import BACKENDS, scratch_database


async def fill(core: Roundtable, ns: str = "team") -> None:
    await core.context.set(ns, "alice", "web", create=True)
    await core.context.set(ns, "bob", "api", create=True)
    for i in range(0, 25, 5):
        batch = [
            EntryInput(message=f"web {j} ✓ café", meta={"i": j, "f": 1.5, "tags": ["a"]})
            for j in range(i, i + 5)
        ]
        await core.journal.append(ns, "alice", "web", batch)
    await core.journal.append(ns, "bob", "api", [EntryInput(message="api up", status="success")])
    await core.journal.create_project(ns, "carol", "empty", "nothing yet")
    await core.journal.create_project("other", "carol", "elsewhere")  # not exported


async def dump(core: Roundtable, ns: str = "team") -> str:
    out = io.StringIO()
    await export_namespace(core, ns, out.write)
    return out.getvalue()


async def snapshot(core: Roundtable, ns: str = "team") -> dict[str, Any]:
    """Everything that must survive the round trip, without database-local ids."""
    E, P, C, N = tables.entries, tables.projects, tables.checkpoints, tables.merkle_nodes
    async with core.db.read() as conn:
        projects = (
            (await conn.execute(select(P).where(P.c.namespace == ns).order_by(P.c.name)))
            .mappings()
            .all()
        )
        out: dict[str, Any] = {}
        for p in projects:
            entries = (
                await conn.execute(
                    select(
                        E.c.seq,
                        E.c.ts,
                        E.c.agent,
                        E.c.status,
                        E.c.kind,
                        E.c.message,
                        E.c.meta,
                        E.c.prev_hash,
                        E.c.hash,
                        E.c.leaf_hash,
                    )
                    .where(E.c.project_id == p["id"])
                    .order_by(E.c.seq)
                )
            ).all()
            cps = (
                await conn.execute(
                    select(C.c.size, C.c.root, C.c.key_id, C.c.note)
                    .where(C.c.project_id == p["id"])
                    .order_by(C.c.id)
                )
            ).all()
            nodes = (
                await conn.execute(
                    select(N.c.level, N.c.idx, N.c.hash)
                    .where(N.c.project_id == p["id"])
                    .order_by(N.c.level, N.c.idx)
                )
            ).all()
            out[p["name"]] = {
                "head": (
                    p["head_seq"],
                    p["head_hash"],
                    p["tree_frontier"],
                    p["description"],
                    p["created_by"],
                ),
                "entries": [tuple(e) for e in entries],
                "checkpoints": [tuple(c) for c in cps],
                "nodes": [tuple(n) for n in nodes],
            }
        ctx = (
            await conn.execute(
                select(tables.agent_context.c.agent, tables.agent_context.c.version, P.c.name)
                .join(P, P.c.id == tables.agent_context.c.project_id)
                .where(tables.agent_context.c.namespace == ns)
                .order_by(tables.agent_context.c.agent)
            )
        ).all()
        out["contexts"] = [tuple(c) for c in ctx]
    return out


@pytest.fixture
async def fresh_url(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """An empty database on the OTHER backend when both are tested (SQLite <-> PostgreSQL)."""
    if backend == "postgresql" or "postgresql" not in BACKENDS:
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    async with scratch_database(request.getfixturevalue("pg_server")) as url:
        yield url


@contextlib.asynccontextmanager
async def open_fresh(
    url: str, tmp_path: Path, trusted: str | None = None
) -> AsyncIterator[Roundtable]:
    """A second Roundtable with its own data directory (so its own signing key)."""
    other = Settings(data_dir=tmp_path / "fresh-data", database_url=url, trusted_keys=trusted)
    async with Roundtable.open(other, sweeper=False) as rt:
        yield rt


@pytest.fixture
async def fresh(fresh_url: str, tmp_path: Path) -> AsyncIterator[Roundtable]:
    async with open_fresh(fresh_url, tmp_path) as rt:
        yield rt


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # Checkpoints every 10 entries so the export carries several.
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        sweep_interval_seconds=3600,
        checkpoint_every_entries=10,
    )


async def test_round_trip_into_a_fresh_database(
    core: Roundtable, fresh_url: str, tmp_path: Path
) -> None:
    await fill(core)
    text = await dump(core)
    async with open_fresh(fresh_url, tmp_path, trusted=core.keyring.current.kid) as fresh:
        await check_round_trip(core, fresh, text)


async def check_round_trip(core: Roundtable, fresh: Roundtable, text: str) -> None:
    lines = [json.loads(x) for x in text.splitlines()]
    assert lines[0]["type"] == "header" and lines[0]["namespace"] == "team"
    assert lines[-1] == {"type": "end", "counts": lines[-1]["counts"]}
    assert lines[-1]["counts"]["entry"] == 26 and lines[-1]["counts"]["project"] == 3
    assert lines[-1]["counts"].get("checkpoint", 0) >= 2
    assert lines[-1]["counts"]["signing_key"] == 1

    done = await restore(fresh, text.splitlines(keepends=True))
    assert done.counts == lines[-1]["counts"] and done.namespace == "team"
    assert done.signing_keys == [core.keyring.current.kid]
    assert await snapshot(fresh) == await snapshot(core)
    for name in ("web", "api", "empty"):
        report = await fresh.journal.verify("team", name)
        assert report.ok, report
    # The restored journal keeps working: appends chain on and verify.
    await fresh.journal.append("team", "alice", "web", [EntryInput(message="after import")])
    assert (await fresh.journal.verify("team", "web")).ok
    assert (await fresh.context.get("team", "alice")).project == "web"
    # Exporting the restored namespace gives the same records (bar the header's time).
    again = [json.loads(x) for x in (await dump(fresh)).splitlines()]
    same = [json.loads(x) for x in text.splitlines()]
    assert again[1:] != same[1:]  # one more entry now
    web_entries = [x for x in same if x["type"] == "entry" and x["project"] == "web"]
    assert [x for x in again if x["type"] == "entry" and x["project"] == "web"][
        : len(web_entries)
    ] == web_entries


async def test_into_the_same_backend(core: Roundtable, tmp_path: Path, settings: Settings) -> None:
    """Export, then restore into a new database of the test's backend (PG to PG, SQLite to SQLite)."""
    await fill(core)
    text = await dump(core)
    # A second namespace name in the same database is refused (hashes cover the namespace) ...
    with pytest.raises(InvalidInput, match="cannot be imported as"):
        await restore(core, text.splitlines(), namespace="renamed")
    # ... and the same namespace, which has projects, is refused with nothing written.
    before = await row_counts(core.db)
    with pytest.raises(ConflictError, match="already has 3 projects"):
        await restore(core, text.splitlines())
    assert await row_counts(core.db) == before


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda d: d.update(message="edited"), id="edited-message"),
        pytest.param(lambda d: d.update(seq=d["seq"] + 1), id="gap"),
        pytest.param(lambda d: d.update(hash="0" * 64), id="hash"),
        pytest.param(lambda d: d.update(leaf_hash="f" * 64), id="leaf"),
        pytest.param(lambda d: d.update(unknown=1), id="unknown-field"),
        pytest.param(lambda d: d.pop("prev_hash"), id="missing-field"),
    ],
)
async def test_corrupted_line_refused_nothing_written(
    core: Roundtable, fresh: Roundtable, corrupt: Any
) -> None:
    await fill(core)
    lines = (await dump(core)).splitlines()
    index = next(i for i, x in enumerate(lines) if '"type":"entry"' in x and '"seq":7,' in x)
    record = json.loads(lines[index])
    corrupt(record)
    lines[index] = json.dumps(record)
    before = await row_counts(fresh.db)
    with pytest.raises(InvalidInput) as err:
        await restore(fresh, lines)
    assert err.value.data["line"] == index + 1 and f"line {index + 1}:" in err.value.message
    assert await row_counts(fresh.db) == before


async def test_truncated_and_garbage_files(core: Roundtable, fresh: Roundtable) -> None:
    await fill(core)
    lines = (await dump(core)).splitlines()
    before = await row_counts(fresh.db)
    with pytest.raises(InvalidInput, match="truncated"):
        await restore(fresh, lines[:-1])
    with pytest.raises(InvalidInput, match="line 3: not JSON"):
        await restore(fresh, [*lines[:2], "{oops", *lines[2:]])
    with pytest.raises(InvalidInput, match="line 1: the first line must be the export header"):
        await restore(fresh, lines[1:])
    checkpoint = next(i for i, x in enumerate(lines) if '"type":"checkpoint"' in x)
    bad = json.loads(lines[checkpoint])
    bad["root"] = "ab" * 32
    with pytest.raises(InvalidInput, match="root is not the journal's root"):
        await restore(fresh, [*lines[:checkpoint], json.dumps(bad), *lines[checkpoint + 1 :]])
    assert await row_counts(fresh.db) == before


async def test_foreign_checkpoints_need_trust(core: Roundtable, fresh: Roundtable) -> None:
    """Without trusting the exporting server's key, verify names its checkpoints (nothing else)."""
    await fill(core)
    await restore(fresh, (await dump(core)).splitlines())
    report = await fresh.journal.verify("team", "web")
    assert not report.ok and "not one of this server's keys" in (report.detail or "")
    assert (await fresh.journal.verify("team", "empty")).ok  # no checkpoint: nothing to trust


async def row_counts(db: Any) -> dict[str, int]:
    """Rows of every table an import writes (compared before and after a refused one)."""
    from sqlalchemy import func

    counts = {}
    async with db.read() as conn:
        for table in tables.metadata.sorted_tables:
            counts[table.name] = int(
                await conn.scalar(select(func.count()).select_from(table)) or 0
            )
    return counts


async def test_rotated_and_pruned_journal(core: Roundtable, fresh_url: str, tmp_path: Path) -> None:
    """Sealed segments travel as metadata; pruned bodies are read back from the archives; the
    importer rewrites each archive byte for byte (its SHA-256 must match) and verify passes."""
    text, seg = await rotated_export(core)
    entries = [json.loads(x) for x in text.splitlines() if '"type":"entry"' in x]
    assert [e["message"] for e in entries if e["project"] == "web"][:2] == [
        "web 0 ✓ café",
        "web 1 ✓ café",
    ]
    assert sum('"type":"segment"' in x for x in text.splitlines()) == 1

    async with open_fresh(fresh_url, tmp_path, trusted=core.keyring.current.kid) as fresh:
        done = await restore(fresh, text.splitlines())
        assert done.counts["segment"] == 1
        archive_file = fresh.settings.data_dir / seg["archive"]
        assert archive_file.is_file()
        from roundtable.journal.archive import file_sha256

        assert file_sha256(archive_file) == seg["archive_sha256"]
        report = await fresh.journal.verify("team", "web")
        assert report.ok, report
        async with fresh.db.read() as conn:
            size, seg_bytes = (
                await conn.execute(
                    select(tables.projects.c.head_seq, tables.projects.c.segment_bytes).where(
                        tables.projects.c.name == "web"
                    )
                )
            ).one()
        async with core.db.read() as conn:
            original = await conn.scalar(
                select(tables.projects.c.segment_bytes).where(
                    tables.projects.c.name == "web", tables.projects.c.namespace == "team"
                )
            )
        assert size == 27 and seg_bytes == original
        page = await fresh.journal.read_recent("team", "web", limit=500)
        assert page.entries[-1].message == "web 0 ✓ café"


async def rotated_export(core: Roundtable) -> tuple[str, Any]:
    """Fill, rotate `web`, append once more, prune the sealed segment; the export and segment."""
    from roundtable.journal import retention

    await fill(core)
    await core.rotation.rotate("team", "web")
    await core.journal.append("team", "alice", "web", [EntryInput(message="after rotation")])
    async with core.db.read() as conn:
        seg = (
            (
                await conn.execute(
                    select(
                        tables.segments,
                        tables.projects.c.namespace,
                        tables.projects.c.name.label("project"),
                    )
                    .join(tables.projects, tables.projects.c.id == tables.segments.c.project_id)
                    .where(tables.projects.c.name == "web", tables.projects.c.namespace == "team")
                )
            )
            .mappings()
            .one()
        )
    await retention.prune_segment(core.db, seg)
    return await dump(core), seg


async def test_segment_archive_must_reproduce(core: Roundtable, fresh: Roundtable) -> None:
    text, seg = await rotated_export(core)
    lines = text.splitlines()
    index = next(i for i, x in enumerate(lines) if '"type":"segment"' in x)
    bad = json.loads(lines[index])
    bad["archive_sha256"] = "0" * 64
    before = await row_counts(fresh.db)
    with pytest.raises(InvalidInput, match="differs from the recorded"):
        await restore(fresh, [*lines[:index], json.dumps(bad), *lines[index + 1 :]])
    assert await row_counts(fresh.db) == before
    assert not (fresh.settings.data_dir / seg["archive"]).exists()
    late = [*lines[:index], *lines[index + 1 : index + 3], lines[index], *lines[index + 3 :]]
    with pytest.raises(InvalidInput, match="must come before the project's entries"):
        await restore(fresh, late)
    assert await row_counts(fresh.db) == before
