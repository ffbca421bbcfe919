"""Verified agent tokens are remembered (issue 16), and a remembered token is refused exactly
when verifying it afresh would refuse it: at its expiry, and as soon as its key is untrusted."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import jwt
import pytest

from roundtable.auth import keyring
from roundtable.auth.keys import SigningKey
from roundtable.auth.tokens import AUDIENCE, ISSUER, VERIFIED_TOKENS_MAX, TokenService
from roundtable.config import Settings
from roundtable.errors import Unauthenticated
from roundtable.runtime import Roundtable

HOUR = timedelta(hours=1)


@pytest.fixture
def service(tmp_path: Path) -> TokenService:
    return TokenService(tmp_path, SigningKey.load_or_create(tmp_path), admin_token="admin-x")


def test_a_token_is_verified_once_then_remembered(service: TokenService) -> None:
    token = service.mint("alice", "team", HOUR, perms=["journal:write"])
    first = service.authenticate(token)
    assert service.authenticate(token) is first  # the remembered principal
    assert (first.agent, first.namespace, first.perms) == ("alice", "team", {"journal:write"})
    other = service.authenticate(service.mint("bob", "team", HOUR))
    assert other.agent == "bob" and len(service._verified) == 2
    # A refused token is never remembered: it is refused the same way every time.
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for _ in range(2):
        with pytest.raises(Unauthenticated, match="invalid token"):
            service.authenticate(tampered)
    assert tampered not in service._verified


def test_memory_is_bounded(service: TokenService) -> None:
    tokens = [service.mint(f"a{i}", "team", HOUR) for i in range(VERIFIED_TOKENS_MAX + 5)]
    for token in tokens:
        service.authenticate(token)
    assert len(service._verified) == VERIFIED_TOKENS_MAX
    assert tokens[0] not in service._verified and tokens[-1] in service._verified
    assert service.authenticate(tokens[0]).agent == "a0"  # forgotten: verified again


def test_a_remembered_token_expires_on_time(service: TokenService) -> None:
    now = time.time()
    exp = int(now) + 1 if int(now) + 1 - now > 0.3 else int(now) + 2
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "ns": "team", "exp": exp}
    token = jwt.encode(
        claims, service.key.private, algorithm="EdDSA", headers={"kid": service.key.kid}
    )
    assert service.authenticate(token).agent == "alice"
    assert service.authenticate(token).agent == "alice"  # remembered
    time.sleep(max(0.0, exp - time.time()) + 0.01)
    for _ in range(2):
        with pytest.raises(Unauthenticated, match="token expired"):
            service.authenticate(token)


async def test_a_remembered_token_of_an_untrusted_key_is_refused(settings: Settings) -> None:
    """Another instance's key, trusted then untrusted: its token, remembered while trusted, is
    refused as soon as this instance re-reads its trust (every 50 ms), as before."""
    other = settings.model_copy(update={"data_dir": settings.data_dir.parent / "other"})
    async with (
        Roundtable.open(settings, sweeper=False) as first,
        Roundtable.open(other, sweeper=False) as second,
    ):
        token = second.tokens.mint("bob", "default", timedelta(minutes=5))
        keyring.trust(settings.data_dir, [second.keyring.current.kid])
        await asyncio.sleep(0.1)
        for _ in range(3):
            assert (await first.authenticate_async(f"Bearer {token}")).agent == "bob"
        assert token in first.tokens._verified
        keyring.trust_file(settings.data_dir).write_text("")
        await asyncio.sleep(0.1)
        with pytest.raises(Unauthenticated, match="not trusted"):
            await first.authenticate_async(f"Bearer {token}")
