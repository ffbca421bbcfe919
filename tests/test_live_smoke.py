from __future__ import annotations

import httpx

from tests.live import LiveServer


def test_live_server_answers(live_server: LiveServer) -> None:
    r = httpx.get(f"{live_server.url}/healthz")
    assert r.status_code == 200
    r = httpx.get(f"{live_server.api()}/projects")
    assert r.status_code == 401
    r = httpx.get(f"{live_server.api()}/projects", headers=live_server.headers)
    assert r.status_code == 200 and r.json() == []
