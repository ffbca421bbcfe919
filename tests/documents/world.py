"""A namespace with two session trees, namespace-wide documents, another namespace, and one
token of each kind the isolation matrix needs, built over the real HTTP API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import jwt

from roundtable.auth.keys import SigningKey
from roundtable.auth.tokens import AUDIENCE, ISSUER
from roundtable.ids import utcnow, uuid7
from tests.live import LiveServer


@dataclass
class World:
    server: LiveServer
    tokens: dict[str, str] = field(default_factory=dict)
    docs: dict[str, str] = field(default_factory=dict)  # label -> id
    sessions: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _mint(server: LiveServer, agent: str, namespace: str = "default", **extra: Any) -> str:
    body = {"agent": agent, **extra}
    r = httpx.post(f"{server.api(namespace)}/tokens", json=body, headers=server.headers)
    return str(_ok(r, 201)["token"])


def expired_token(server: LiveServer, agent: str) -> str:
    """A correctly signed token whose `exp` has passed."""
    key = SigningKey.load_or_create(server.settings.data_dir)
    now = utcnow()
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": agent,
        "ns": "default",
        "iat": int((now - timedelta(hours=2)).timestamp()),
        "exp": int((now - timedelta(hours=1)).timestamp()),
        "jti": uuid7(),
    }
    return jwt.encode(claims, key.private, algorithm="EdDSA", headers={"kid": key.kid})


def build(server: LiveServer) -> World:
    """Trees A (root + child) and B, documents in each and namespace-wide, and the tokens:
    a: tree A (scoped through its child session), b: tree B, ns: a namespace-wide agent,
    other: another namespace, expired, ro: tree A with documents:read only."""
    w = World(server)
    api = server.api()
    admin = server.headers

    def start(agent: str, parent: str | None = None) -> str:
        body = {"agent": agent, "parent_id": parent}
        return str(_ok(httpx.post(f"{api}/sessions", json=body, headers=admin), 201)["id"])

    w.sessions["rootA"] = start("lead-a")
    # A plain session may only be parented to one of its own agent (trees of different agents
    # are built by orchestration); the tokens below are scoped to these trees either way.
    w.sessions["childA"] = start("lead-a", w.sessions["rootA"])
    w.sessions["rootB"] = start("lead-b")
    rw = ["documents:read", "documents:write"]
    w.tokens["a"] = _mint(
        server, "worker-a", scope={"root_session": w.sessions["childA"]}, perms=rw
    )
    w.tokens["b"] = _mint(server, "worker-b", scope={"root_session": w.sessions["rootB"]}, perms=rw)
    w.tokens["ns"] = _mint(server, "librarian")
    w.tokens["other"] = _mint(server, "stranger", "other")
    w.tokens["expired"] = expired_token(server, "worker-a")
    w.tokens["ro"] = _mint(
        server, "reader", scope={"root_session": w.sessions["rootA"]}, perms=["documents:read"]
    )

    def put(who: str | None, namespace: str = "default", **body: Any) -> str:
        headers = admin if who is None else w.headers(who)
        r = httpx.post(f"{server.api(namespace)}/documents", json=body, headers=headers)
        return str(_ok(r, 201)["id"])

    w.docs["A"] = put("a", name="plan", content="alpha secret words", tags=["t"])
    w.docs["B"] = put("b", name="plan", content="bravo secret words", tags=["t"])
    w.docs["N"] = put(None, name="handbook", content="namespace secret words", tags=["t"])
    w.docs["O"] = put(None, "other", name="plan", content="oscar secret words", tags=["t"])
    for who, mine in (("a", "A"), ("b", "B")):  # each tree links its plan under the handbook
        r = httpx.post(
            f"{api}/documents/{w.docs['N']}/relations",
            json={"other": w.docs[mine], "kind": "parent-child", "note": f"{who}'s plan"},
            headers=w.headers(who),
        )
        _ok(r)
    return w
