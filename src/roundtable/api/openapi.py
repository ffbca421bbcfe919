"""The OpenAPI document says what every operation can answer: besides its success, any of the
domain errors as RFC 9457 problem details (`errors.py` maps each to its status) and the HTTP
layer's own refusals (400 malformed request, 413 body too large, 421/403 Host or Origin refused
with authentication disabled). The fuzzing gate (tests/security/test_fuzz_openapi.py) holds the
server to it: every status documented, every body conforming.

The document (~260 KB of JSON) takes a few hundred milliseconds of CPU to build, and FastAPI
builds it on the event loop at the first request, stalling every other request meanwhile. Here
the first request builds and encodes it once in a worker thread (`OpenAPIDocument`); every later
one is answered from the encoded bytes."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details; `code` is the stable error code.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "data": {"type": "object"},
        "instance": {"type": "string"},
    },
}

ERRORS = {
    "400": "Malformed request (e.g. a bad Content-Length).",
    "401": "Missing, invalid or expired token.",
    "403": "The token may not do this (another namespace or agent, not admin), or the Origin "
    "was refused (authentication disabled).",
    "404": "No such namespace object (project, session, checkpoint...).",
    "409": "Conflict: a stale expected_version, a refused checkpoint, a concurrent rotation.",
    "410": "The session's lease expired or it ended.",
    "413": "Request body larger than ROUNDTABLE_MAX_REQUEST_BYTES.",
    "421": "Host refused (authentication disabled: loopback host names only).",
    "422": "Invalid input: the detail names the field and the rule.",
    "429": "Rate limited (see Retry-After).",
}


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        ref = {"$ref": "#/components/schemas/Problem"}
        content = {"application/problem+json": {"schema": ref}}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, description in ERRORS.items():
                    responses[status] = {"description": description, "content": content}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    routes = app.router.routes
    for i, route in enumerate(routes):
        if type(route) is Route and route.path == app.openapi_url:
            routes[i] = Route(route.path, OpenAPIDocument(app).answer, include_in_schema=False)


class OpenAPIDocument:
    """The endpoint serving `app`'s OpenAPI document, built off the event loop, once."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._body: bytes | None = None
        self._lock: asyncio.Lock | None = None

    async def answer(self, request: Request) -> Response:
        if self._body is None:
            self._lock = self._lock or asyncio.Lock()
            async with self._lock:  # concurrent first requests build it once
                if self._body is None:
                    self._body = await anyio.to_thread.run_sync(self._encode)
        root_path = request.scope.get("root_path", "").rstrip("/")
        if root_path and self._app.root_path_in_servers:  # as FastAPI's own endpoint does
            schema = dict(self._app.openapi())
            servers = schema.get("servers", [])
            if root_path not in {s.get("url") for s in servers}:
                schema["servers"] = [{"url": root_path}, *servers]
            return JSONResponse(schema)
        return Response(self._body, media_type="application/json")

    def _encode(self) -> bytes:
        """The document's bytes, exactly as FastAPI's own endpoint sends them."""
        return bytes(JSONResponse(self._app.openapi()).body)
