"""The dashboard: server-rendered pages at `/` of `roundtable serve` (docs/dashboard.md).

A thin adapter like the API: one routes module per page area, each calling the same services.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from roundtable.dashboard import (
    auth,
    documents,
    journals,
    mcp_servers,
    overview,
    registry,
    sessions,
    web,
)


def install(app: FastAPI) -> None:
    """Add the pages and mount the packaged static files at /static."""
    router = APIRouter(include_in_schema=False)
    for area in (auth, overview, sessions, journals, documents, registry, mcp_servers):
        router.include_router(area.router)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=web.HERE / "static"), name="dashboard-static")


__all__ = ["install"]
