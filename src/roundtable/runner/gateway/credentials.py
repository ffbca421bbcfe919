"""Upstream credentials (D12): headers for an HTTP upstream, built at the runner from its
secrets, never given to the executor. OAuth 2 client-credentials tokens are cached until shortly
before they expire and fetched again on expiry or on a 401 from the upstream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import httpx2

from roundtable.runner.gateway.secrets import RunnerSecrets

#: Mints a Roundtable JWT for (run id, audience) through the runner protocol.
UpstreamTokenMinter = Callable[[str, str], Awaitable[str]]


class OAuthCache:
    """Client-credentials tokens by (token URL, client id, scope), refreshed before expiry."""

    def __init__(self, http: httpx2.AsyncClient | None = None, margin: float = 5.0) -> None:
        self._http = http
        self._margin = margin
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}

    async def token(
        self, url: str, client_id: str, client_secret: str, scope: str | None, *, fresh: bool
    ) -> str:
        key = (url, client_id, scope or "")
        async with self._locks.setdefault(key, asyncio.Lock()):
            held = self._tokens.get(key)
            if held is not None and not fresh and held[1] > time.monotonic():
                return held[0]
            data = {"grant_type": "client_credentials"}
            if scope:
                data["scope"] = scope
            http = self._http or httpx2.AsyncClient(timeout=30)
            try:
                reply = await http.post(url, data=data, auth=(client_id, client_secret))
            finally:
                if self._http is None:
                    await http.aclose()
            if reply.status_code != 200:
                raise RuntimeError(f"token endpoint {url} answered {reply.status_code}")
            body: dict[str, Any] = reply.json()
            access = str(body["access_token"])
            ttl = float(body.get("expires_in") or 3600)
            self._tokens[key] = (access, time.monotonic() + max(ttl - self._margin, 0.0))
            return access


class UpstreamAuth(httpx2.Auth):
    """Adds the upstream's credential to each request; on a 401 fetches it afresh once."""

    def __init__(self, header: Callable[[bool], Awaitable[tuple[str, str] | None]]) -> None:
        self._header = header

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        pair = await self._header(False)
        if pair is not None:
            request.headers[pair[0]] = pair[1]
        response = yield request
        if response.status_code == 401 and pair is not None:
            again = await self._header(True)
            if again is not None:
                request.headers[again[0]] = again[1]
                yield request


def header_source(
    auth: dict[str, Any],
    name: str,
    run_id: str,
    secrets: RunnerSecrets,
    oauth: OAuthCache,
    mint: UpstreamTokenMinter | None,
) -> Callable[[bool], Awaitable[tuple[str, str] | None]]:
    """How to make the auth header of one upstream; secrets are checked up front (clear error
    before the run starts), values read only at request time."""
    kind = auth.get("kind", "none")
    if kind in ("bearer", "header"):
        secrets.get(auth["secret"])  # fail early, by name
    if kind == "oauth2_client_credentials":
        secrets.get(auth["client_id_secret"])
        secrets.get(auth["client_secret_secret"])
    if kind == "roundtable" and mint is None:
        raise RuntimeError("this runner cannot mint Roundtable tokens for upstreams")

    minted: list[str] = []

    async def header(fresh: bool) -> tuple[str, str] | None:
        if kind == "bearer":
            return "Authorization", f"Bearer {secrets.get(auth['secret'])}"
        if kind == "header":
            return str(auth["header"]), secrets.get(auth["secret"])
        if kind == "oauth2_client_credentials":
            token = await oauth.token(
                auth["token_url"],
                secrets.get(auth["client_id_secret"]),
                secrets.get(auth["client_secret_secret"]),
                auth.get("scope"),
                fresh=fresh,
            )
            return "Authorization", f"Bearer {token}"
        if kind == "roundtable" and mint is not None:
            if fresh or not minted:
                minted[:] = [await mint(run_id, auth.get("audience") or name)]
            return "Authorization", f"Bearer {minted[0]}"
        return None

    return header
