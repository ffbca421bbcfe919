"""Append storm over HTTP: every acknowledged entry is stored exactly once, gap-free, verifiable;
and a batch is all or nothing."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx
import pytest

from tests.api.conftest import Serve, assert_problem, mint
from tests.live import LiveServer
from tests.services.util import open_db, row_counts

AGENTS = 16
APPENDS = 100


async def read_all(client: httpx.AsyncClient, **filters: Any) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    cursor = None
    while True:
        r = await client.post(
            "/entries/query", json={"order": "oldest", "limit": 500, "cursor": cursor, **filters}
        )
        assert r.status_code == 200, r.text
        page = r.json()
        entries.extend(page["entries"])
        cursor = page["next_cursor"]
        if cursor is None:
            return entries


@pytest.mark.slow
async def test_sixteen_agents_append_concurrently(serve: Serve) -> None:
    with serve(write_rate_per_second=1_000_000, write_burst=1_000_000) as server:
        tokens = {f"agent-{n:02d}": mint(server, f"agent-{n:02d}") for n in range(AGENTS)}
        limits = httpx.Limits(max_connections=AGENTS * 2, max_keepalive_connections=AGENTS * 2)
        async with httpx.AsyncClient(
            base_url=server.api(), headers=server.headers, limits=limits, timeout=120
        ) as client:
            assert (await client.post("/projects", json={"name": "storm"})).status_code == 201

            async def agent(name: str) -> list[tuple[int, str, str]]:
                acked = []
                for i in range(APPENDS):
                    message = f"{name} says {i}"
                    r = await client.post(
                        "/projects/storm/entries",
                        json={"message": message, "meta": {"i": i}},
                        headers=tokens[name],
                    )
                    assert r.status_code == 201, r.text
                    entry = r.json()["entries"][0]
                    assert (entry["message"], entry["agent"]) == (message, name)
                    acked.append((entry["seq"], entry["hash"], message))
                return acked

            results = await asyncio.gather(*(agent(name) for name in tokens))
            acked = sorted(item for result in results for item in result)
            total = AGENTS * APPENDS
            assert [seq for seq, _, _ in acked] == list(range(1, total + 1))

            stored = await read_all(client, projects=["storm"])
            assert [(e["seq"], e["hash"], e["message"]) for e in stored] == acked
            assert len({e["message"] for e in stored}) == total
            for prev, entry in itertools.pairwise(stored):
                assert entry["prev_hash"] == prev["hash"]
            for name in tokens:  # each agent's own entries are in the order it wrote them
                mine = [e["meta"]["i"] for e in stored if e["agent"] == name]
                assert mine == list(range(APPENDS))

            project = (await client.get("/projects/storm")).json()
            assert (project["size"], project["head_hash"]) == (total, acked[-1][1])
            report = (await client.get("/projects/storm/verify")).json()
            assert report["ok"] and report["checked"] == total


async def test_a_batch_is_all_or_nothing(live_server: LiveServer) -> None:
    async with (
        httpx.AsyncClient(base_url=live_server.api(), headers=live_server.headers) as client,
        open_db(live_server.settings) as db,
    ):
        assert (await client.post("/projects", json={"name": "web"})).status_code == 201
        good = {"message": "fine"}
        r = await client.post("/projects/web/entries", json={"agent": "a", "entries": [good]})
        assert r.status_code == 201
        before = await row_counts(db)
        bad_entries: list[dict[str, Any]] = [
            {"message": ""},
            {"message": "x" * 16_385},
            {"message": "m", "kind": "Bad Kind"},
            {"message": "m", "status": "catastrophic"},
            {"message": "m", "meta": {"x": "y" * 17_000}},
            {"message": "m", "meta": [1, 2]},
            {"message": "m", "extra": 1},
            {"message": 42},
            {"message": "nul \u0000 inside"},
        ]
        for bad in bad_entries:
            for batch in ([bad, good, good], [good, bad, good], [good, good, bad]):
                r = await client.post(
                    "/projects/web/entries", json={"agent": "a", "entries": batch}
                )
                assert_problem(r, 422, "invalid_input")
        assert await row_counts(db) == before
        r = await client.post("/projects/web/entries", json={"agent": "a", "entries": [good] * 3})
        assert r.status_code == 201
        body = r.json()
        assert (body["first_seq"], body["last_seq"]) == (2, 4)
        assert [e["seq"] for e in body["entries"]] == [2, 3, 4]
        assert len({e["ts"] for e in body["entries"]}) == 1  # one batch, one server timestamp
