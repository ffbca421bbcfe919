"""Token `scope` and `perms` claims (D7): parsed into the principal, absent means unrestricted."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import jwt
import pytest

from roundtable.auth.keys import SigningKey
from roundtable.auth.tokens import AUDIENCE, ISSUER, TokenScope, TokenService
from roundtable.errors import InvalidInput, PermissionDenied, Unauthenticated
from roundtable.ids import utcnow

HOUR = timedelta(hours=1)


@pytest.fixture
def service(tmp_path: Path) -> TokenService:
    return TokenService(tmp_path, SigningKey.load_or_create(tmp_path), admin_token="admin-x")


def test_tokens_without_the_claims_are_unrestricted(service: TokenService) -> None:
    token = service.mint("alice", "team", HOUR)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert "scope" not in claims and "perms" not in claims
    who = service.authenticate(token)
    assert (who.root_session, who.projects, who.perms) == (None, None, None)
    assert who.may("documents:write") and who.may("anything:else")


def test_scope_and_perms_round_trip(service: TokenService) -> None:
    scope = TokenScope(root_session="root-1", projects=("web", "api"))
    token = service.mint("alice", "team", HOUR, scope=scope, perms=["documents:read"])
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["scope"] == {"root_session": "root-1", "projects": ["web", "api"]}
    assert claims["perms"] == ["documents:read"]
    who = service.authenticate(token)
    assert (who.root_session, who.projects) == ("root-1", ("web", "api"))
    assert who.may("documents:read") and not who.may("documents:write")
    with pytest.raises(PermissionDenied, match="documents:write"):
        who.require("documents:write")
    empty = service.authenticate(service.mint("bob", "team", HOUR, perms=[]))
    assert empty.perms == frozenset() and not empty.may("documents:read")


@pytest.mark.parametrize("perms", [["documents"], ["Documents:Read"], ["a:b c"], "documents:read"])
def test_bad_perms_are_refused_at_mint(service: TokenService, perms: object) -> None:
    with pytest.raises(InvalidInput, match=r"perms|permission"):
        service.mint("alice", "team", HOUR, perms=perms)  # type: ignore[arg-type]


def test_bad_claims_and_other_audiences_do_not_authenticate(service: TokenService) -> None:
    now = utcnow()
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "ns": "team",
        "exp": int((now + HOUR).timestamp()),
    }

    def signed(**extra: object) -> str:
        key = service.key
        return jwt.encode(
            {**base, **extra}, key.private, algorithm="EdDSA", headers={"kid": key.kid}
        )

    for bad in ({"scope": "root-1"}, {"scope": {"tree": "x"}}, {"perms": "documents:read"}):
        with pytest.raises(Unauthenticated, match="invalid token"):
            service.authenticate(signed(**bad))
    other = service.mint("alice", "team", HOUR, audience="upstream-mcp")
    with pytest.raises(Unauthenticated):
        service.authenticate(other)
