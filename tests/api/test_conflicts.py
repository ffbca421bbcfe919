"""Version conflicts over HTTP: twenty clients race on one expected version; one wins."""

from __future__ import annotations

import asyncio

import httpx

from tests.api.conftest import assert_problem, mint
from tests.live import LiveServer
from tests.services.util import events_of, open_db

RACERS = 20


async def test_twenty_concurrent_puts_with_one_expected_version(live_server: LiveServer) -> None:
    token = mint(live_server, "racer")
    async with httpx.AsyncClient(base_url=live_server.api(), headers=token, timeout=60) as client:
        first = await client.put("/agents/racer/context", json={"project": "base", "create": True})
        assert first.status_code == 200 and first.json()["version"] == 1
        for i in range(RACERS):
            r = await client.post("/projects", json={"name": f"p{i}"})
            assert r.status_code == 201

        responses = await asyncio.gather(
            *(
                client.put(
                    "/agents/racer/context", json={"project": f"p{i}", "expected_version": 1}
                )
                for i in range(RACERS)
            )
        )
        won = [r for r in responses if r.status_code == 200]
        lost = [r for r in responses if r.status_code != 200]
        assert len(won) == 1 and len(lost) == RACERS - 1, [r.status_code for r in responses]
        winner = won[0].json()
        assert winner["version"] == 2
        for r in lost:
            body = assert_problem(r, 409, "conflict")
            assert body["data"]["current_version"] == 2
            assert body["data"]["current_project"] == winner["project"]
            assert body["data"]["expected_version"] == 1
        current = (await client.get("/agents/racer/context")).json()
        assert (current["project"], current["version"]) == (winner["project"], 2)

        # The retry a client would make, with the version the conflict named, succeeds.
        retry = await client.put(
            "/agents/racer/context", json={"project": "p0", "expected_version": 2}
        )
        assert retry.status_code == 200 and retry.json()["version"] == 3

    async with open_db(live_server.settings) as db:
        conflicts = await events_of(db, "context.conflict", agent="racer")
        assert len(conflicts) == RACERS - 1
        assert {e.payload["current_version"] for e in conflicts} == {2}
        assert len({e.payload["requested_project"] for e in conflicts}) == RACERS - 1
        changed = await events_of(db, "context.changed", agent="racer")
        assert [e.payload["new_version"] for e in changed] == [1, 2, 3]
