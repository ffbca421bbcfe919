"""Issue 15, defects 3 and 6: request bodies are limited while they stream in, before parsing
and before authentication (413), and with authentication disabled only loopback Host and Origin
headers are served (a DNS-rebinding page gets 421/403 instead of an admin token)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx

from tests.api.conftest import Serve, assert_problem

LIMIT = 64 * 1024


def _chunks(total_mib: int) -> Iterator[bytes]:
    for _ in range(total_mib):
        yield b"x" * (1 << 20)


def test_oversized_bodies_are_413_before_authentication(serve: Serve) -> None:
    with serve(max_request_bytes=LIMIT) as server:
        url = f"{server.api()}/projects/web/entries"
        # Unauthenticated, declared length: refused before a byte of it is read.
        r = httpx.post(url, content=b"x" * (LIMIT + 1), timeout=30)
        assert_problem(r, 413, "too_large")
        # Unauthenticated, chunked (no length): cut off once the count passes the limit.
        r = httpx.post(url, content=_chunks(64), timeout=30)
        assert_problem(r, 413, "too_large")
        # Authenticated makes no difference, and /mcp is limited too.
        r = httpx.post(url, content=_chunks(64), headers=server.headers, timeout=30)
        assert_problem(r, 413, "too_large")
        r = httpx.post(f"{server.url}/mcp", content=_chunks(64), headers=server.headers)
        assert r.status_code == 413
        # A body under the limit still reaches authentication and the route.
        body = {"agent": "a", "message": "fits"}
        assert_problem(httpx.post(url, json=body), 401, "unauthenticated")
        r = httpx.post(f"{server.api()}/projects", json={"name": "web"}, headers=server.headers)
        assert r.status_code == 201
        assert httpx.post(url, json=body, headers=server.headers).status_code == 201


def test_auth_disabled_serves_loopback_hosts_and_origins_only(serve: Serve) -> None:
    with serve(auth_disabled=True) as server:
        port = server.url.rsplit(":", 1)[1]
        tokens = f"{server.api()}/tokens"
        rebinding = {"Host": f"attacker.example:{port}"}
        assert_problem(
            httpx.post(tokens, json={"agent": "x"}, headers=rebinding), 421, "misdirected_request"
        )
        assert_problem(
            httpx.get(f"{server.url}/healthz", headers=rebinding), 421, "misdirected_request"
        )
        evil = {"Origin": "http://attacker.example"}
        assert_problem(
            httpx.post(tokens, json={"agent": "x"}, headers=evil), 403, "forbidden_origin"
        )
        assert_problem(
            httpx.post(tokens, json={"agent": "x"}, headers={"Origin": "null"}),
            403,
            "forbidden_origin",
        )
        for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
            ok = {"Host": host, "Origin": f"http://{host}"}
            assert httpx.post(tokens, json={"agent": "x"}, headers=ok).status_code == 201


def test_with_auth_enabled_any_host_reaches_authentication(serve: Serve) -> None:
    with serve() as server:
        r = httpx.get(f"{server.api()}/projects", headers={"Host": "roundtable.internal"})
        assert_problem(r, 401, "unauthenticated")
