"""An app that has been built, served and shut down is freed: nothing module-level keeps it.
FastAPI caches facts about each endpoint in module-level caches, so an endpoint that closed
over its app kept every app ever built alive (with its MCP server: ~100,000 objects each). The
test process builds hundreds; full garbage collections then took seconds."""

from __future__ import annotations

import gc
import weakref

import httpx

from roundtable.api.app import create_app
from roundtable.config import Settings
from tests import live


def test_an_app_served_and_shut_down_is_freed(settings: Settings) -> None:
    app = create_app(settings, sweeper=False)
    freed = weakref.ref(app)
    with live.serving(app, settings) as server:
        for path in ("/healthz", "/readyz", "/.well-known/jwks.json", "/openapi.json", "/login"):
            assert httpx.get(f"{server.url}{path}", timeout=30).status_code == 200, path
        r = httpx.get(f"{server.api()}/projects", headers=server.headers, timeout=30)
        assert r.status_code == 200
    del app, server
    gc.collect()
    assert freed() is None, [type(r).__qualname__ for r in gc.get_referrers(freed())]
