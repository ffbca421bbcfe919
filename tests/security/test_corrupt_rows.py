"""Issue 15, defects 4 and 7: `verify` meets rows it cannot decode, and stray Merkle nodes.

A hand-edited row (meta that is not JSON, a timestamp that does not parse) is named by seq as
`edited` (HTTP 200 with the report, CLI exit 8), never a 500. A Merkle node row beyond the head is
reported as `tree_mismatch`, and appends carry on past it."""

from __future__ import annotations

import asyncio
import sqlite3

import httpx
import pytest
from sqlalchemy import insert, select

from roundtable.store import tables
from roundtable.store.engine import Database
from tests.cli.conftest import Cli
from tests.live import LiveServer


def _fill(server: LiveServer, n: int = 5) -> None:
    api, h = server.api(), server.headers
    assert httpx.post(f"{api}/projects", json={"name": "web"}, headers=h).status_code == 201
    entries = [{"message": f"e{i}"} for i in range(n)]
    r = httpx.post(
        f"{api}/projects/web/entries", json={"agent": "a", "entries": entries}, headers=h
    )
    assert r.status_code == 201, r.text


@pytest.mark.only_backend("sqlite")
@pytest.mark.parametrize(
    ("column", "value"),
    [("meta", "{not json"), ("ts", "yesterday at noon"), ("ts", "0000-13-45 99:99:99")],
)
def test_verify_names_an_undecodable_row(
    cli: Cli, live_server: LiveServer, backend: str, column: str, value: str
) -> None:
    _fill(live_server)
    db = live_server.settings.effective_database_url.split("///", 1)[1]
    with sqlite3.connect(db) as conn:
        conn.execute(f"UPDATE entries SET {column} = ? WHERE seq = 3", (value,))
    response = httpx.get(
        f"{live_server.api()}/projects/web/verify", headers=live_server.headers, timeout=30
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["ok"] is False
    assert (report["first_bad_seq"], report["problem"]) == (3, "edited"), report
    result = cli("verify", "web", agent=None, ROUNDTABLE_TOKEN=live_server.admin_token)
    assert result.exit_code == 8, (result.stdout, result.stderr)
    assert "3" in result.stdout


async def _stray_node(url: str) -> None:
    db = Database(url)
    try:
        async with db.write() as conn:
            pid = await conn.scalar(select(tables.projects.c.id))
            # Node (1, 2) covers entries 5..6: it will be completed by the next append.
            await conn.execute(
                insert(tables.merkle_nodes).values(project_id=pid, level=1, idx=2, hash=b"x" * 32)
            )
    finally:
        await db.close()


def test_a_stray_merkle_node_is_reported_and_appends_go_on(live_server: LiveServer) -> None:
    _fill(live_server, 5)
    asyncio.run(_stray_node(live_server.settings.effective_database_url))
    api, h = live_server.api(), live_server.headers
    report = httpx.get(f"{api}/projects/web/verify", headers=h).json()
    assert (report["ok"], report["problem"], report["first_bad_seq"]) == (
        False,
        "tree_mismatch",
        6,
    ), report
    assert "stray" in report["detail"]
    for i in range(3):
        r = httpx.post(
            f"{api}/projects/web/entries", json={"agent": "a", "message": f"more {i}"}, headers=h
        )
        assert r.status_code == 201, r.text
    report = httpx.get(f"{api}/projects/web/verify", headers=h).json()
    assert report["ok"] is True, report
