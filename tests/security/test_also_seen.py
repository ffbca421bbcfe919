"""Issue 15, "also seen": the SQLite database is created 0600 (its directory 0700); a session can
only be parented to a session of the same agent; and a key row an attacker inserts into
`signing_keys` does not make the tokens it signs valid."""

from __future__ import annotations

import base64
import hashlib
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import insert

from roundtable.config import Settings
from roundtable.errors import PermissionDenied, Unauthenticated
from roundtable.runtime import Roundtable
from roundtable.store import tables
from tests.api.conftest import assert_problem, mint
from tests.live import LiveServer


@pytest.mark.only_backend("sqlite")
async def test_the_sqlite_database_is_private(settings: Settings, backend: str) -> None:
    async with Roundtable.open(settings, sweeper=False) as core:
        await core.journal.create_project("default", "a", "web")
    db = Path(settings.effective_database_url.split("///", 1)[1])
    for path in (db, db.with_name(db.name + "-wal")):
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(settings.data_dir.stat().st_mode) == 0o700


async def test_a_session_cannot_join_another_agents_tree(core: Roundtable) -> None:
    mine = await core.sessions.start("default", "alice")
    with pytest.raises(PermissionDenied, match="same agent"):
        await core.sessions.start("default", "mallory", parent_id=mine.id)
    child = await core.sessions.start("default", "alice", parent_id=mine.id)
    assert child.root_id == mine.id


def test_a_foreign_parent_is_403_over_http(live_server: LiveServer) -> None:
    api = live_server.api()
    alice, mallory = mint(live_server, "alice"), mint(live_server, "mallory")
    parent = httpx.post(f"{api}/sessions", json={}, headers=alice).json()["id"]
    r = httpx.post(f"{api}/sessions", json={"parent_id": parent}, headers=mallory)
    assert_problem(r, 403, "permission_denied")


async def test_a_key_inserted_into_the_database_mints_nothing(core: Roundtable) -> None:
    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    kid = hashlib.sha256(raw).hexdigest()[:16]
    async with core.db.write() as conn:
        await conn.execute(
            insert(tables.signing_keys).values(
                kid=kid,
                algorithm="Ed25519",
                public_key=base64.b64encode(raw).decode(),
                created_at=datetime.now(UTC),
            )
        )
    now = datetime.now(UTC)
    claims = {
        "iss": "roundtable",
        "aud": "roundtable",
        "sub": "mallory",
        "ns": "default",
        "exp": int((now + timedelta(hours=1)).timestamp()),
    }
    token = jwt.encode(claims, private, algorithm="EdDSA", headers={"kid": kid})
    with pytest.raises(Unauthenticated, match="not trusted"):
        await core.authenticate_async(f"Bearer {token}")
