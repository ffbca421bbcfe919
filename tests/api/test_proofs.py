"""HTTP: tree heads and proofs, verified by the independent verifier; bad sizes as problems."""

from __future__ import annotations

import httpx

from tests.api.conftest import assert_problem, mint
from tests.journal import independent
from tests.live import LiveServer


def _hex(items: list[str]) -> list[bytes]:
    return [bytes.fromhex(h) for h in items]


async def test_tree_and_proofs_over_http(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server.api(), headers=live_server.headers) as client:
        assert (await client.post("/projects", json={"name": "p"})).status_code == 201
        empty = (await client.get("/projects/p/tree")).json()
        assert empty["size"] == 0 and empty["root"] == independent.mth([]).hex()
        r = await client.post(
            "/projects/p/entries",
            json={"agent": "alice", "entries": [{"message": f"m{i}"} for i in range(1, 12)]},
        )
        assert r.status_code == 201
        head = (await client.get("/projects/p/tree")).json()
        assert head == {"namespace": "default", "project": "p", "size": 11, "root": head["root"]}
        old = (await client.get("/projects/p/tree", params={"size": 4})).json()
        assert old["size"] == 4

        proof = (await client.get("/projects/p/proofs/inclusion", params={"seq": 3})).json()
        assert (proof["leaf_index"], proof["tree_size"], proof["root"]) == (2, 11, head["root"])
        assert independent.verify_inclusion(
            bytes.fromhex(proof["leaf_hash"]),
            2,
            11,
            _hex(proof["path"]),
            bytes.fromhex(head["root"]),
        )
        cons = (
            await client.get("/projects/p/proofs/consistency", params={"old": 4, "new": 11})
        ).json()
        assert (cons["old_root"], cons["new_root"]) == (old["root"], head["root"])
        assert independent.verify_consistency(
            4, 11, bytes.fromhex(old["root"]), bytes.fromhex(head["root"]), _hex(cons["path"])
        )

        bad = {
            ("/projects/p/proofs/inclusion", (("seq", 3), ("size", 0))): (422, "invalid_input"),
            ("/projects/p/proofs/inclusion", (("seq", 3), ("size", 12))): (422, "invalid_input"),
            ("/projects/p/proofs/inclusion", (("seq", 5), ("size", 4))): (422, "invalid_input"),
            ("/projects/p/proofs/inclusion", (("seq", 12),)): (404, "not_found"),
            ("/projects/p/proofs/consistency", (("old", 5), ("new", 4))): (422, "invalid_input"),
            ("/projects/p/proofs/consistency", (("old", 0),)): (422, "invalid_input"),
            ("/projects/p/tree", (("size", 12),)): (422, "invalid_input"),
            ("/projects/nope/tree", ()): (404, "not_found"),
        }
        for (path, params), (status, code) in bad.items():
            body = assert_problem(await client.get(path, params=dict(params)), status, code)
            assert body["detail"], (path, params)
        detail = assert_problem(
            await client.get("/projects/p/proofs/inclusion", params={"seq": 5, "size": 4}),
            422,
            "invalid_input",
        )["detail"]
        assert "entry 5 is not in the tree of size 4" in detail
        missing = await client.get("/projects/p/proofs/inclusion")
        assert missing.status_code == 422  # seq is required


def test_proofs_need_a_token_of_the_namespace(live_server: LiveServer) -> None:
    r = httpx.post(f"{live_server.api()}/projects", json={"name": "p"}, headers=live_server.headers)
    assert r.status_code == 201
    r = httpx.get(f"{live_server.api()}/projects/p/tree")
    assert_problem(r, 401, "unauthenticated")
    other = mint(live_server, "mallory", "other")
    r = httpx.get(f"{live_server.api()}/projects/p/tree", headers=other)
    assert_problem(r, 403, "permission_denied")
    own = mint(live_server, "alice")
    r = httpx.get(f"{live_server.api()}/projects/p/tree", headers=own)
    assert r.status_code == 200 and r.json()["size"] == 0
