"""Errors as RFC 9457 problem details: one mapping from the domain error family to HTTP."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from roundtable import metrics
from roundtable.errors import InvalidInput, RateLimited, RoundtableError, TooLarge

PROBLEM = "application/problem+json"


def problem(error: RoundtableError, instance: str | None = None) -> JSONResponse:
    metrics.count_refusal(error)
    body: dict[str, Any] = {
        "type": f"https://roundtable.dev/problems/{error.code}",
        "title": error.title,
        "status": error.http_status,
        "detail": error.message,
        "code": error.code,
        **({"data": error.data} if error.data else {}),
        **({"instance": instance} if instance else {}),
    }
    headers = {}
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
    if error.http_status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="roundtable"'
    return JSONResponse(body, status_code=error.http_status, headers=headers, media_type=PROBLEM)


_HTTP_CODES = {413: TooLarge.code}


def install(app: FastAPI) -> None:
    async def domain(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RoundtableError)
        return problem(exc, request.url.path)

    async def validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type")}
            for err in exc.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(part) for part in first["loc"])
        return problem(InvalidInput(f"{where}: {first['msg']}", errors=errors), request.url.path)

    async def http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        error = RoundtableError(str(exc.detail))
        code = _HTTP_CODES.get(exc.status_code)
        body = {
            "type": f"https://roundtable.dev/problems/{code}" if code else "about:blank",
            "title": str(exc.detail),
            "status": exc.status_code,
            "detail": error.message,
            "code": code or "http_error",
        }
        return JSONResponse(body, status_code=exc.status_code, media_type=PROBLEM)

    app.add_exception_handler(RoundtableError, domain)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(HTTPException, http)
