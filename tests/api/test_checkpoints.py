"""Checkpoints over HTTP: sign now, history (paged, newest first), latest as JSON or bare note;
JWKS publishes the keys that verify them; verify streams progress then its report."""

from __future__ import annotations

import base64
import hashlib
import json

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tests.api.conftest import Serve, assert_problem, mint


def test_checkpoint_routes(serve: Serve) -> None:
    with (
        serve(checkpoint_every_entries=2) as server,
        httpx.Client(base_url=server.api(), headers=server.headers) as api,
    ):
        assert api.post("/projects", json={"name": "web", "agent": "alice"}).status_code == 201
        assert_problem(api.get("/projects/web/checkpoints/latest"), 404, "not_found")
        for i in range(5):
            r = api.post("/projects/web/entries", json={"agent": "alice", "message": f"m{i}"})
            assert r.status_code == 201, r.text
        # Signed at 1 (the first append), 2 and 4 by the cadence; 5 on request by an agent.
        agent = mint(server, "alice")
        signed = api.post("/projects/web/checkpoints", headers=agent)
        assert signed.status_code == 201, signed.text
        assert signed.json()["size"] == 5

        first = api.get("/projects/web/checkpoints", params={"limit": 2}).json()
        assert [c["size"] for c in first["checkpoints"]] == [5, 4]
        rest = api.get(
            "/projects/web/checkpoints", params={"limit": 2, "cursor": first["next_cursor"]}
        ).json()
        assert [c["size"] for c in rest["checkpoints"]] == [2, 1]
        assert_problem(
            api.get("/projects/web/checkpoints", params={"limit": 0}), 422, "invalid_input"
        )

        latest = api.get("/projects/web/checkpoints/latest").json()
        plain = api.get("/projects/web/checkpoints/latest", headers={"Accept": "text/plain"})
        assert plain.headers["content-type"].startswith("text/plain")
        assert plain.text == latest["note"]

        # Anyone can check the note with the published key and nothing else.
        jwk = httpx.get(f"{server.url}/.well-known/jwks.json").json()["keys"]
        (key,) = [k for k in jwk if k["kid"] == latest["key_id"]]
        raw = base64.urlsafe_b64decode(key["x"] + "==")
        text, _, sig_line = plain.text.rpartition("\n\n")
        name, encoded = sig_line.removeprefix("— ").strip().split(" ")
        blob = base64.b64decode(encoded)
        assert blob[:4] == hashlib.sha256(name.encode() + b"\n\x01" + raw).digest()[:4]
        Ed25519PublicKey.from_public_bytes(raw).verify(blob[4:], (text + "\n").encode())
        assert text.split("\n")[:2] == [f"{server.settings.log_origin}/default/web", "5"]

        # Another namespace's token cannot read or sign here.
        other = mint(server, "mallory", "elsewhere")
        assert_problem(
            api.get("/projects/web/checkpoints", headers=other), 403, "permission_denied"
        )
        assert_problem(
            api.post("/projects/web/checkpoints", headers=other), 403, "permission_denied"
        )


def test_verify_streams_progress_then_the_report(serve: Serve) -> None:
    with serve() as server, httpx.Client(base_url=server.api(), headers=server.headers) as api:
        api.post("/projects", json={"name": "web", "agent": "alice"})
        entries = [{"message": f"m{i}"} for i in range(7)]
        api.post("/projects/web/entries", json={"agent": "alice", "entries": entries})
        with api.stream("GET", "/projects/web/verify/stream") as response:
            assert response.headers["content-type"].startswith("application/x-ndjson")
            lines = [json.loads(line) for line in response.iter_lines() if line]
        assert lines[-1]["report"]["ok"] is True and lines[-1]["report"]["checked"] == 7
        assert {"checked": 7, "total": 7} in lines[:-1]
        assert_problem(api.get("/projects/nowhere/verify/stream"), 404, "not_found")
