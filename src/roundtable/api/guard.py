"""The outermost HTTP checks, made before routing, parsing or authentication touch a request.

- **Body size** (`max_request_bytes`): a declared `Content-Length` over the limit is answered 413
  at once; a chunked body is counted as it streams in and cut off with 413 the moment it passes
  the limit. Nothing reads more than the limit, so an unauthenticated 400 MB POST costs the
  server nothing (authentication needs only the headers, but FastAPI parses the body first).
- **Host and Origin** when authentication is disabled (loopback only): a DNS-rebinding page
  reaches the server under its own host name, so any Host that is not a loopback name (or the
  bind address) is 421, and a browser Origin that is not loopback is 403.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from roundtable.config import Settings
from roundtable.errors import TooLarge

PROBLEM = b"application/problem+json"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


class BodyTooLarge(HTTPException):
    """Raised from `receive` mid-body; an HTTPException so FastAPI passes it through unchanged
    to the problem-details handler (it turns other body-read errors into 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


def problem_bytes(status: int, code: str, title: str, detail: str) -> bytes:
    return json.dumps(
        {
            "type": f"https://roundtable.dev/problems/{code}",
            "title": title,
            "status": status,
            "detail": detail,
            "code": code,
        }
    ).encode()


async def send_problem(
    send: Send, status: int, code: str, title: str, detail: str, *, close: bool = False
) -> None:
    body = problem_bytes(status, code, title, detail)
    headers = [(b"content-type", PROBLEM), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _hostname(host: str) -> str:
    """The name in a Host header or an origin's netloc, without port or IPv6 brackets."""
    try:
        return (urlsplit(f"//{host}").hostname or "").lower()
    except ValueError:
        return ""


class RequestGuard:
    """ASGI middleware wrapped around the whole app (see the module docstring)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.limit = settings.max_request_bytes
        self.check_host = settings.auth_disabled
        self.hosts = LOOPBACK_NAMES | {settings.host.lower().strip("[]")} - {"0.0.0.0", "::", ""}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.check_host:
            headers = {
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
            }
            if await self._refused_origin(headers, send):
                return
        # Only Content-Length is needed here (the last one, as a dict of the headers would keep).
        declared = None
        for name, value in scope["headers"]:
            if name.lower() == b"content-length":
                declared = value.decode("latin-1")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                size = -1
            if size < 0:
                await send_problem(send, 400, "bad_request", "Bad request", "bad Content-Length")
                return
            if size > self.limit:
                await send_problem(
                    send,
                    413,
                    TooLarge.code,
                    "Request body too large",
                    f"request body of {size} bytes is larger than the limit of {self.limit}",
                    close=True,
                )
                return
        await self._counted(scope, receive, send)

    async def _refused_origin(self, headers: dict[str, str], send: Send) -> bool:
        host = _hostname(headers.get("host", ""))
        if host not in self.hosts:
            await send_problem(
                send,
                421,
                "misdirected_request",
                "Misdirected request",
                f"host {headers.get('host', '')!r} is not this server: with authentication "
                "disabled only loopback host names are served (DNS rebinding protection)",
            )
            return True
        origin = headers.get("origin")
        if origin is not None and origin != "null":
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or _hostname(parts.netloc) not in self.hosts:
                await send_problem(
                    send,
                    403,
                    "forbidden_origin",
                    "Forbidden origin",
                    f"origin {origin!r} may not call this server (authentication is disabled)",
                )
                return True
        elif origin == "null":
            await send_problem(
                send, 403, "forbidden_origin", "Forbidden origin", "opaque origin refused"
            )
            return True
        return False

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = 0
        started = False
        limit = self.limit

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge as exc:  # read outside FastAPI's body parsing (e.g. /mcp)
            if started:
                raise
            await send_problem(
                send,
                413,
                TooLarge.code,
                "Request body too large",
                str(exc.detail),
                close=True,
            )
