"""Issue 15, defects 5 and 8: out-of-range numbers and dates, and tokens missing claims, are
4xx answers (never a 500), over HTTP and MCP."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import httpx
import jwt

from roundtable.auth.keys import SigningKey
from tests.api.conftest import assert_problem
from tests.live import LiveServer
from tests.mcp import harness

HUGE = 99999999999999999999


def _cursor(position: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"p": position}).encode()).decode().rstrip("=")


BAD_CURSOR = _cursor(9223372036854775808)


def test_out_of_range_numbers_and_dates_are_422(live_server: LiveServer) -> None:
    api, h = live_server.api(), live_server.headers
    assert httpx.post(f"{api}/projects", json={"name": "web"}, headers=h).status_code == 201
    entry = {"agent": "alice", "message": "m"}
    assert httpx.post(f"{api}/projects/web/entries", json=entry, headers=h).status_code == 201
    attacks = [
        httpx.get(f"{api}/projects/web/entries", params={"cursor": BAD_CURSOR}, headers=h),
        httpx.get(f"{api}/projects/web/checkpoints", params={"cursor": BAD_CURSOR}, headers=h),
        httpx.post(f"{api}/entries/query", json={"cursor": BAD_CURSOR}, headers=h),
        httpx.post(f"{api}/entries/query", json={"seq_min": HUGE}, headers=h),
        httpx.post(f"{api}/entries/query", json={"seq_max": HUGE}, headers=h),
        httpx.post(f"{api}/entries/query", json={"meta": {"k": HUGE}}, headers=h),
        httpx.post(f"{api}/entries/query", json={"since": "0001-01-01T00:00:00+14:00"}, headers=h),
        httpx.post(f"{api}/entries/query", json={"until": "9999-12-31T23:59:59-14:00"}, headers=h),
        httpx.post(f"{api}/projects/web/entries", json={**entry, "meta": {"k": HUGE}}, headers=h),
    ]
    for response in attacks:
        assert_problem(response, 422, "invalid_input")


async def test_mcp_read_recent_with_an_overflowing_cursor_is_a_structured_error(
    live_server: LiveServer,
) -> None:
    token = harness.mint_token(live_server, "alice")
    async with harness.http(live_server, token) as client:
        await harness.ok(client, "set_project", {"project": "web", "create": True})
        await harness.fail(client, "read_recent", {"cursor": BAD_CURSOR}, "invalid_input")


def test_a_validly_signed_token_without_ns_is_401(live_server: LiveServer) -> None:
    key = SigningKey.load_or_create(live_server.settings.data_dir)
    now = datetime.now(UTC)
    base = {
        "iss": "roundtable",
        "aud": "roundtable",
        "sub": "alice",
        "ns": "default",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=1)).timestamp()),
    }
    for claims in (
        {k: v for k, v in base.items() if k != "ns"},
        {**base, "ns": 7},
        {**base, "sub": ["alice"]},
        {**base, "ns": "../x"},
    ):
        token = jwt.encode(claims, key.private, algorithm="EdDSA", headers={"kid": key.kid})
        response = httpx.get(
            f"{live_server.api()}/projects", headers={"Authorization": f"Bearer {token}"}
        )
        assert_problem(response, 401, "unauthenticated")
