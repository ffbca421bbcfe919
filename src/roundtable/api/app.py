"""The HTTP application: the API, health checks, JWKS and MCP over Streamable HTTP at /mcp."""

from __future__ import annotations

import contextlib
import inspect
import os
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.requests import Request
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from roundtable import __version__, logs, metrics, tracing
from roundtable.api import (
    agent_sessions,
    blueprints,
    checkpoints,
    discovery,
    documents,
    events,
    mcp_servers,
    openapi,
    problems,
    proofs,
    rotation,
    runners,
    schema_registry,
    verify,
)
from roundtable.api import metrics as metrics_api
from roundtable.api.guard import RequestGuard
from roundtable.api.observe import ObserveMiddleware
from roundtable.api.routes import router
from roundtable.config import Settings
from roundtable.dashboard import install as install_dashboard
from roundtable.errors import PermissionDenied, RoundtableError
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
                principal = await self.core.authenticate_async(headers.get("authorization"))
                if principal.runner_id is not None:
                    raise PermissionDenied("a runner token cannot use MCP")
            except RoundtableError as error:
                response = problems.problem(error, scope["path"])
                if error.http_status == 401:
                    base = discovery.base_url(Request(scope))
                    response.headers["WWW-Authenticate"] = discovery.www_authenticate(base)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


#: FastAPI's own OpenTelemetry instrumentation (FastAPI >= 0.16x) is switched off where it exists:
#: the server's spans are `ObserveMiddleware`'s (docs/operations.md), which would otherwise be
#: doubled once tracing sets the global tracer provider, and FastAPI asked the global providers
#: whether it was on at every request (issue 16: a visible share of an append's CPU).
_WITHOUT_FASTAPI_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


def create_app(settings: Settings, *, sweeper: bool = True) -> FastAPI:
    """Build the app; the core (database, services) opens in the lifespan."""
    tracing.configure_from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logs.reapply()  # uvicorn has installed its handlers by now: give them our format
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
            async with contextlib.AsyncExitStack() as stack:
                if settings.metrics_port is not None:
                    await stack.enter_async_context(
                        metrics_api.loopback_listener(core, settings.metrics_port)
                    )
                await stack.enter_async_context(mcp.session_manager.run())
                try:
                    yield
                finally:
                    metrics.mark_process_dead(os.getpid())

    app = FastAPI(
        title="Roundtable",
        version=__version__,
        description="Coordination and audit server for teams of AI agents.",
        lifespan=lifespan,
        **_WITHOUT_FASTAPI_TELEMETRY,
    )
    problems.install(app)
    openapi.install(app)
    app.add_middleware(RequestGuard, settings=settings)
    app.add_middleware(ObserveMiddleware)
    # Routes are matched in order, one by one: the busiest routers come first (a runner's claim
    # spent ~100 µs being matched behind the others). No request matches routes of two routers
    # (tests/api/test_route_order.py), so the order changes nothing else.
    app.include_router(router)
    app.include_router(agent_sessions.router)
    app.include_router(runners.router)
    app.include_router(events.router)
    app.include_router(checkpoints.router)
    app.include_router(verify.router)
    app.include_router(proofs.router)
    app.include_router(rotation.router)
    app.include_router(discovery.router)
    app.include_router(metrics_api.router)
    app.include_router(blueprints.router)
    app.include_router(documents.router)
    app.include_router(schema_registry.router)
    install_dashboard(app)  # the pages at / (docs/dashboard.md)
    app.include_router(mcp_servers.router)

    app.add_api_route("/healthz", healthz, methods=["GET"], tags=["meta"])
    app.add_api_route("/readyz", readyz, methods=["GET"], tags=["meta"])
    app.add_api_route("/.well-known/jwks.json", jwks, methods=["GET"], tags=["meta"])
    _docs_last(app)
    return app


# The meta endpoints are module functions, not closures over the app: FastAPI caches facts
# about each endpoint in module-level caches, which would keep every app ever built alive.


async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


async def readyz(request: Request) -> Any:
    """The database answers and its schema is at the newest migration."""
    core: Roundtable = request.app.state.core
    current = await migrate.current_revision(core.db)
    head = migrate.head_revision()
    ready = current == head
    body = {"status": "ready" if ready else "migrating", "schema": current, "expected": head}
    if ready:
        return body
    return JSONResponse(body, status_code=503)


async def jwks(request: Request) -> dict[str, Any]:
    """Every registered public key (current and retired): agent tokens and checkpoints."""
    core: Roundtable = request.app.state.core
    await core.keyring.reload(core.db)
    return core.keyring.jwks()


def _docs_last(app: FastAPI) -> None:
    """Move FastAPI's documentation routes (added first, at construction) behind the API's:
    every API request was tried against them first. No request matches both
    (tests/api/test_route_order.py), so only the order of trying changes."""
    docs = {app.openapi_url, app.docs_url, app.swagger_ui_oauth2_redirect_url, app.redoc_url}
    routes = app.router.routes
    moved: list[BaseRoute] = [r for r in routes if type(r) is Route and r.path in docs]
    routes[:] = [r for r in routes if not any(r is m for m in moved)] + moved
