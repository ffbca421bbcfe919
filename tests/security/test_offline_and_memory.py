"""Offline verification (`roundtable verify --offline`) and the checkpoints clients remember
(issue 15): an auditor needs no server, and a client that saw checkpoint N warns after a
rollback."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import insert, select

from roundtable.client.remembered import RememberedCheckpoints, Verdict
from roundtable.journal.models import Checkpoint, ConsistencyProof
from roundtable.store import tables
from roundtable.store.engine import Database
from tests.cli.conftest import Cli
from tests.live import LiveServer
from tests.security import forge


def _fill(server: LiveServer, project: str, n: int) -> None:
    api, h = server.api(), server.headers
    httpx.post(f"{api}/projects", json={"name": project}, headers=h)
    entries = [{"message": f"{project} {i}"} for i in range(n)]
    r = httpx.post(
        f"{api}/projects/{project}/entries", json={"agent": "a", "entries": entries}, headers=h
    )
    assert r.status_code == 201, r.text
    r = httpx.post(f"{api}/projects/{project}/checkpoints", headers=h)
    assert r.status_code in (200, 201), r.text


def _offline(cli: Cli, *projects: str) -> Any:
    s = cli.server.settings
    return cli(
        "verify",
        "--offline",
        *projects,
        "--data-dir",
        str(s.data_dir),
        "--database-url",
        s.effective_database_url,
        "--json",
        agent=None,
        ROUNDTABLE_URL=None,
    )


async def _db(server: LiveServer, work: Any) -> None:
    db = Database(server.settings.effective_database_url)
    try:
        async with db.write() as conn:
            await work(conn)
    finally:
        await db.close()


def test_offline_verify_needs_no_server_and_sees_a_rewrite(cli: Cli) -> None:
    _fill(cli.server, "web", 8)
    _fill(cli.server, "api", 5)
    result = _offline(cli)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert result.stdout.count('"ok": true') == 2

    async def rewrite(conn: Any) -> None:
        await forge.rechain(conn, "default", "web", forge.edit(2, "forged"))

    asyncio.run(_db(cli.server, rewrite))
    result = _offline(cli, "web")
    assert result.exit_code == 8, (result.stdout, result.stderr)
    assert '"checkpoint_mismatch"' in result.stdout
    missing = cli(
        "verify",
        "--offline",
        "--data-dir",
        str(cli.server.settings.data_dir / "nope"),
        agent=None,
    )
    assert missing.exit_code == 3, (missing.stdout, missing.stderr)


def test_a_client_that_saw_checkpoint_n_warns_after_a_rollback(cli: Cli) -> None:
    _fill(cli.server, "web", 8)
    first = cli("checkpoint", "web", agent=None)
    assert first.exit_code == 0, first.stderr
    _fill(cli.server, "web", 8)  # 16 entries, checkpoint at 16
    assert cli("checkpoint", "web", agent=None).exit_code == 0
    assert cli("verify", "web", agent=None).exit_code == 0

    async def roll_back(conn: Any) -> None:
        """What restoring an old backup of the database does: back to 8 entries."""
        kept = [
            dict(r)
            for r in (
                await conn.execute(select(tables.checkpoints).where(tables.checkpoints.c.size <= 8))
            ).mappings()
        ]
        await forge.rechain(conn, "default", "web", forge.truncate(8))
        for row in kept:
            row.pop("id")
            await conn.execute(insert(tables.checkpoints).values(**row))

    asyncio.run(_db(cli.server, roll_back))
    result = cli("checkpoint", "web", agent=None)
    assert result.exit_code == 8, (result.stdout, result.stderr)
    assert "ROLLBACK" in result.stderr and "16" in result.stderr
    result = cli("verify", "web", agent=None)
    assert result.exit_code == 8 and "ROLLBACK" in result.stderr


async def test_a_fork_is_reported_and_the_old_checkpoint_kept(tmp_path: Any) -> None:
    warnings: list[str] = []
    memory = RememberedCheckpoints(tmp_path, "http://x", "default", warnings.append)

    def cp(size: int, root: str) -> Checkpoint:
        now = datetime.now(UTC)
        return Checkpoint(
            namespace="default",
            project="web",
            size=size,
            root=root,
            key_id="k",
            note="n",
            created_at=now,
        )

    async def no_proof(old: int, new: int) -> ConsistencyProof:
        raise AssertionError("not needed")

    assert await memory.check("web", cp(4, "aa" * 32), no_proof) is Verdict.FIRST
    assert await memory.check("web", cp(4, "bb" * 32), no_proof) is Verdict.FORK
    assert await memory.check("web", cp(3, "aa" * 32), no_proof) is Verdict.ROLLBACK
    assert memory.load("web") is not None and memory.load("web").root == "aa" * 32  # type: ignore[union-attr]
    assert len(warnings) == 2 and "FORK" in warnings[0] and "ROLLBACK" in warnings[1]


def test_verify_export_needs_neither_server_nor_database(cli: Cli, tmp_path: Any) -> None:
    _fill(cli.server, "web", 12)
    export = tmp_path / "ns.jsonl"
    url = cli.server.settings.effective_database_url
    result = cli("export", "-o", str(export), agent=None, ROUNDTABLE_DATABASE_URL=url)
    assert result.exit_code == 0, result.stderr
    kid = json.loads(next(ln for ln in export.read_text().splitlines() if '"signing_key"' in ln))[
        "kid"
    ]
    result = cli("verify-export", str(export), "--key", kid, "--json", agent=None)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert '"ok": true' in result.stdout
    # Without --key: the export's own keys, with a warning saying so.
    result = cli("verify-export", str(export), agent=None)
    assert result.exit_code == 0 and "pin them with --key" in result.stderr
    # A key the auditor did not pin: the checkpoints are not trusted.
    result = cli("verify-export", str(export), "--key", "0" * 16, "--json", agent=None)
    assert result.exit_code == 8 and '"unknown_key"' in result.stdout, result.stdout
    # An edited entry: refused on the way in (its hash no longer matches).
    lines = export.read_text().splitlines()
    forged = [line.replace('"web 3"', '"web three"') for line in lines]
    export.write_text("\n".join(forged) + "\n")
    result = cli("verify-export", str(export), "--key", kid, agent=None)
    assert result.exit_code == 8, (result.stdout, result.stderr)
    assert "damaged" in result.stderr
