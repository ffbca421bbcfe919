"""Tampering seen over HTTP: GET .../verify names the first bad entry after a direct DB edit."""

from __future__ import annotations

import httpx
from sqlalchemy import delete, select, update

from roundtable.store import tables
from tests.live import LiveServer
from tests.services.util import open_db

E, P = tables.entries, tables.projects


async def test_verify_endpoint_reports_tampering(live_server: LiveServer) -> None:
    async with (
        httpx.AsyncClient(base_url=live_server.api(), headers=live_server.headers) as client,
        open_db(live_server.settings) as db,
    ):
        for project in ("edited", "deleted", "intact"):
            assert (await client.post("/projects", json={"name": project})).status_code == 201
            r = await client.post(
                f"/projects/{project}/entries",
                json={"agent": "alice", "entries": [{"message": f"m{i}"} for i in range(1, 8)]},
            )
            assert r.status_code == 201
        for project in ("edited", "deleted", "intact"):
            report = (await client.get(f"/projects/{project}/verify")).json()
            assert report["ok"] and report["checked"] == 7

        async with db.write() as conn:
            ids = {
                (name, seq): id_
                for id_, seq, name in await conn.execute(
                    select(E.c.id, E.c.seq, P.c.name).join(P, E.c.project_id == P.c.id)
                )
            }
            await conn.execute(
                update(E).where(E.c.id == ids[("edited", 4)]).values(message="m4, quietly changed")
            )
            await conn.execute(delete(E).where(E.c.id == ids[("deleted", 6)]))

        edited = (await client.get("/projects/edited/verify")).json()
        assert (edited["ok"], edited["first_bad_seq"], edited["problem"]) == (
            False,
            4,
            "edited",
        )
        assert edited["checked"] == 3 and edited["size"] == 7 and edited["detail"]
        deleted = (await client.get("/projects/deleted/verify")).json()
        assert (deleted["ok"], deleted["first_bad_seq"], deleted["problem"]) == (
            False,
            6,
            "deleted",
        )
        assert (await client.get("/projects/intact/verify")).json()["ok"]
        # Reading still works and shows what is stored (verify is what tells the truth).
        page = (await client.get("/projects/edited/entries", params={"limit": 7})).json()
        assert "m4, quietly changed" in [e["message"] for e in page["entries"]]
