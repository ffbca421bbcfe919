"""The gateway's hot path: a valid 2026-era `tools/call` answered without the SDK's per-request
server machinery (request objects, dispatch context, middleware chain, re-validated models).

Only the happy path is taken here, checked with the SDK's own functions (content type, accept,
envelope and protocol-version ladder, duplicated routing headers, `Mcp-Param-*` headers against
the tool's schema, the params model). Anything they would reject, and a tool the run may not
call, is handed to the SDK's handler with the body replayed, so errors and refusals (and their
events) are exactly the SDK path's. Results are shaped as the SDK shapes them for the wire.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from mcp.server.runner import modern_error_data
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import (
    ERROR_CODE_HTTP_STATUS,
    InboundLadderRejection,
    classify_inbound_request,
    find_duplicated_routing_header,
    validate_mcp_param_headers,
)
from mcp_types import INTERNAL_ERROR, SERVER_INFO_META_KEY
from mcp_types import methods as _methods
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope, Send

log = logging.getLogger("roundtable.runner.gateway")


@dataclass
class FastCall:
    request_id: str | int
    version: str
    params: types.CallToolRequestParams


def eligible(scope: Scope, max_body: int) -> bool:
    """A POST of a 2026-era `tools/call` with a JSON body of known, acceptable size."""
    if scope.get("method") != "POST":
        return False
    headers = Headers(scope=scope)
    version = headers.get("mcp-protocol-version")
    if version is None or version in HANDSHAKE_PROTOCOL_VERSIONS:
        return False
    if headers.get("mcp-method") != "tools/call":
        return False
    if not (headers.get("content-type") or "").lower().startswith("application/json"):
        return False
    accept = [t.split(";")[0].strip().lower() for t in headers.get("accept", "").split(",")]
    if not any(t in ("application/json", "application/*", "*/*") for t in accept):
        return False
    length = headers.get("content-length")
    return length is not None and length.isdigit() and int(length) <= max_body


async def read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when the client went away."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that yields the already-read body first, then defers to the real one."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


def parse(
    scope: Scope,
    body: bytes,
    may_call: Callable[[str], bool],
    input_schema: Callable[[str], Mapping[str, Any] | None],
) -> FastCall | None:
    """The call, when every check the SDK makes passes and the tool is allowed; else None."""
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(decoded, dict) or decoded.get("method") != "tools/call":
        return None
    request_id = decoded.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, str | int):
        return None
    raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers") or []]
    if find_duplicated_routing_header(raw) is not None:
        return None
    headers = Headers(scope=scope)
    verdict = classify_inbound_request(decoded, headers=dict(headers))
    if isinstance(verdict, InboundLadderRejection):
        return None
    try:
        _methods.validate_client_request("tools/call", verdict.protocol_version, decoded["params"])
        params = types.CallToolRequestParams.model_validate(decoded["params"], by_name=False)
    except (KeyError, ValidationError):
        return None
    if not may_call(params.name):
        return None  # refused (and its event recorded) by the SDK path's handler
    schema = input_schema(params.name)
    if (
        schema is not None
        and validate_mcp_param_headers(schema, params.arguments or {}, headers) is not None
    ):
        return None
    return FastCall(request_id, verdict.protocol_version, params)


def result_body(call: FastCall, result: types.CallToolResult, server_info: Any) -> dict[str, Any]:
    """The wire form of a result, as the SDK's server runner makes it."""
    dumped = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    try:
        dumped = _methods.serialize_server_result("tools/call", call.version, dumped)
    except ValidationError:
        log.exception("MCP server %s returned an invalid tools/call result", server_info)
        raise MCPError(code=INTERNAL_ERROR, message="Handler returned an invalid result") from None
    if call.version in MODERN_PROTOCOL_VERSIONS:
        if dumped.get("resultType") is None:
            dumped["resultType"] = "complete"
        meta = dumped.get("_meta")
        if meta is None:
            dumped["_meta"] = {SERVER_INFO_META_KEY: server_info}
        elif isinstance(meta, dict) and meta.get(SERVER_INFO_META_KEY) is None:
            dumped["_meta"] = {**meta, SERVER_INFO_META_KEY: server_info}
    return {"jsonrpc": "2.0", "id": call.request_id, "result": dumped}


async def answer(
    call: FastCall,
    send: Send,
    outcome: Awaitable[types.CallToolResult],
    server_info: Callable[[], Any],
) -> None:
    """Await the proxied call and write its JSON-RPC response (errors as the SDK maps them)."""
    status = 200
    try:
        body = result_body(call, await outcome, server_info())
    except Exception as exc:
        error = modern_error_data(exc)
        status = ERROR_CODE_HTTP_STATUS.get(error.code, 200)
        dumped = error.model_dump(mode="json", by_alias=True, exclude_none=True)
        body = {"jsonrpc": "2.0", "id": call.request_id, "error": dumped}
    data = json.dumps(body, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
