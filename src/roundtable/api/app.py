"""The HTTP application: the API, health checks, JWKS and MCP over Streamable HTTP at /mcp."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from roundtable import __version__
from roundtable.api import checkpoints, events, openapi, problems, proofs, rotation, verify
from roundtable.api.guard import RequestGuard
from roundtable.api.routes import router
from roundtable.config import Settings
from roundtable.errors import RoundtableError
from roundtable.mcp.server import for_core
from roundtable.runtime import Roundtable
from roundtable.store import migrate


class _McpAuth:
    """Refuse unauthenticated MCP requests with a 401 problem before the protocol sees them."""

    def __init__(self, app: ASGIApp, core: Roundtable) -> None:
        self.app = app
        self.core = core

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            try:
                await self.core.authenticate_async(headers.get("authorization"))
            except RoundtableError as error:
                await problems.problem(error, scope["path"])(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(settings: Settings, *, sweeper: bool = True) -> FastAPI:
    """Build the app; the core (database, services) opens in the lifespan."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with Roundtable.open(settings, sweeper=sweeper) as core:
            app.state.core = core
            mcp = for_core(core, "http")
            mcp_app = mcp.streamable_http_app(
                streamable_http_path="/mcp",
                stateless_http=True,
                json_response=True,
                host=settings.host,
            )
            app.router.routes.append(Route("/mcp", endpoint=_McpAuth(mcp_app, core)))
            async with mcp.session_manager.run():
                yield

    app = FastAPI(
        title="Roundtable",
        version=__version__,
        description="Coordination and audit server for teams of AI agents.",
        lifespan=lifespan,
    )
    problems.install(app)
    openapi.install(app)
    app.add_middleware(RequestGuard, settings=settings)
    app.include_router(router)
    app.include_router(events.router)
    app.include_router(checkpoints.router)
    app.include_router(verify.router)
    app.include_router(proofs.router)
    app.include_router(rotation.router)

    @app.get("/healthz", tags=["meta"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["meta"])
    async def readyz() -> Any:
        """The database answers and its schema is at the newest migration."""
        core: Roundtable = app.state.core
        current = await migrate.current_revision(core.db)
        head = migrate.head_revision()
        ready = current == head
        body = {"status": "ready" if ready else "migrating", "schema": current, "expected": head}
        if ready:
            return body
        from fastapi.responses import JSONResponse

        return JSONResponse(body, status_code=503)

    @app.get("/.well-known/jwks.json", tags=["meta"])
    async def jwks() -> dict[str, Any]:
        """Every registered public key (current and retired): agent tokens and checkpoints."""
        core: Roundtable = app.state.core
        await core.keyring.reload(core.db)
        return core.keyring.jwks()

    return app
