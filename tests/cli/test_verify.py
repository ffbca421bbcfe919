"""`roundtable verify`: exit 0 on an intact chain, non-zero after a direct database edit."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import asyncpg

from roundtable.config import Settings
from tests.cli.conftest import Cli

TAMPER = (
    "UPDATE entries SET message = 'rewritten history' "
    "WHERE seq = {seq} AND project_id = (SELECT id FROM projects WHERE name = '{project}')"
)


def tamper(settings: Settings, project: str, seq: int) -> None:
    """Edit one entry's message behind the server's back, straight in the database."""
    sql = TAMPER.format(seq=seq, project=project)
    url = settings.effective_database_url
    if settings.is_sqlite:
        with sqlite3.connect(url.split(":///", 1)[1]) as conn:
            assert conn.execute(sql).rowcount == 1

    else:

        async def edit() -> None:
            conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
            try:
                assert await conn.execute(sql) == "UPDATE 1"
            finally:
                await conn.close()

        asyncio.run(edit())


def test_verify_intact_then_tampered(cli: Cli) -> None:
    cli.use("alice", "web")
    for i in range(1, 5):
        cli.api.post("/projects/web/entries", json={"agent": "alice", "message": f"step {i}"})

    intact = cli.ok("verify", "web")
    assert "✓ web: 4 entries verified" in intact.stdout
    assert json.loads(cli.ok("verify", "web", "--json").stdout)["ok"] is True

    tamper(cli.server.settings, "web", 2)

    broken = cli("verify", "web")
    assert broken.exit_code == 8
    assert "verification failed at entry #2" in broken.stdout and "edited" in broken.stdout
    report = json.loads(cli("verify", "web", "--json").stdout)
    assert (report["ok"], report["first_bad_seq"], report["problem"]) == (False, 2, "edited")


def test_verify_unknown_project_exits_3(cli: Cli) -> None:
    result = cli("verify", "nowhere")
    assert result.exit_code == 3 and "not_found" in result.stderr
