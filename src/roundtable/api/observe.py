"""Per-request observation: a latency histogram by route template, a span, and the log ids.

A pure ASGI middleware (it never buffers a body, so event streams pass through untouched). The
route label is the matched route's template (`/api/v1/namespaces/{namespace}/projects`), never
the raw path: a request that matches no route counts as `<unmatched>`, so scanning random URLs
adds no series. A streamed response (SSE) is timed until the stream ends.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from roundtable import metrics, tracing

#: Methods counted by name; anything else a client sends is `OTHER` (bounded labels).
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ObserveMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        start = time.perf_counter()
        with tracing.call_scope():
            if not tracing.enabled():  # the common case: no span, no attributes to build
                try:
                    await self.app(scope, receive, send_observed)
                finally:
                    metrics.labelled(
                        metrics.HTTP_REQUEST_SECONDS, method, _route(scope), str(status)
                    ).observe(time.perf_counter() - start)
                return
            carrier = _trace_headers(scope)
            with tracing.span(
                method,
                kind="server",
                attributes={"http.request.method": method, "url.path": scope["path"]},
                carrier=carrier,
            ) as span:
                try:
                    await self.app(scope, receive, send_observed)
                finally:
                    route = _route(scope)
                    metrics.labelled(
                        metrics.HTTP_REQUEST_SECONDS, method, route, str(status)
                    ).observe(time.perf_counter() - start)
                    if span is not None:
                        span.update_name(f"{method} {route}")
                        span.set_attribute("http.route", route)
                        span.set_attribute("http.response.status_code", status)
                        if status >= 500:
                            tracing.mark_error(span, str(status))


def _route(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "<unmatched>"


def _trace_headers(scope: Scope) -> dict[str, str]:
    wanted = {b"traceparent", b"tracestate", b"baggage"}
    return {k.decode(): v.decode() for k, v in scope["headers"] if k in wanted}
