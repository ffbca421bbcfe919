"""The OpenAPI document says what every operation can answer: besides its success, any of the
domain errors as RFC 9457 problem details (`errors.py` maps each to its status) and the HTTP
layer's own refusals (400 malformed request, 413 body too large, 421/403 Host or Origin refused
with authentication disabled). The fuzzing gate (tests/security/test_fuzz_openapi.py) holds the
server to it: every status documented, every body conforming."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

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
