"""Malformed JSON-RPC on stdio gets a JSON-RPC error, and the connection stays up.

The SDK's stdio transport drops a line it cannot parse or validate without answering, so a
client waiting on that request's id hangs. `GuardedStdin` stands in front of it: each line is
checked first, and
- bytes that are not UTF-8 JSON, or nest deeper than `MAX_DEPTH`: -32700 (parse error);
- JSON that is not a JSON-RPC 2.0 message (`[]`, a request without `method`, a wrong
  `jsonrpc`, a line longer than `MAX_LINE_BYTES`): -32600 (invalid request);
each answered with the request's id when one can be read from the top level (else `null`), and
a line on stderr. Valid lines pass through unchanged to the SDK.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import AsyncIterator
from typing import Any, Protocol

import anyio
import mcp_types as types
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage

log = logging.getLogger("roundtable.mcp")

#: Deeper than anything a tool call needs (meta nests at most 64 levels inside a few wrappers).
MAX_DEPTH = 200
#: One message on one line; far above the largest append batch.
MAX_LINE_BYTES = 64 * 1024 * 1024


def _top_level_id(line: str) -> Any:
    """The value of the top-level `"id"` key of a JSON object, read without parsing the rest
    (so it works for messages too deep or too broken to parse); None if there is none."""
    depth, i, n = 0, 0, len(line)
    decoder = json.JSONDecoder()
    while i < n:
        ch = line[i]
        if ch == '"':
            try:
                key, end = decoder.raw_decode(line, i)
            except ValueError:
                return None
            if depth == 1 and key == "id":
                j = end
                while j < n and line[j] in " \t\r\n":
                    j += 1
                if j < n and line[j] == ":":
                    try:
                        value, _ = decoder.raw_decode(line, j + 1 + _spaces(line, j + 1))
                    except (ValueError, RecursionError):
                        return None
                    if isinstance(value, str) or (
                        isinstance(value, int) and not isinstance(value, bool)
                    ):
                        return value
                    return None
            i = end
            continue
        if ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
        i += 1
    return None


def _spaces(line: str, start: int) -> int:
    count = 0
    while start + count < len(line) and line[start + count] in " \t\r\n":
        count += 1
    return count


def _depth(line: str) -> int:
    """The deepest nesting of arrays and objects outside strings."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in line:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "}]":
            depth -= 1
    return deepest


def check_line(raw: bytes) -> tuple[str | None, types.JSONRPCError | None]:
    """(the line to pass on, or the error to answer with): exactly one is None."""
    if len(raw) > MAX_LINE_BYTES:
        return None, _error(None, types.INVALID_REQUEST, f"message over {MAX_LINE_BYTES} bytes")
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, _error(None, types.PARSE_ERROR, f"not UTF-8: {exc.reason}")
    # No line with MAX_DEPTH brackets or fewer can nest deeper: count them in C first.
    brackets = raw.count(b"{") + raw.count(b"[")
    if brackets > MAX_DEPTH and _depth(line) > MAX_DEPTH:
        return None, _error(
            _top_level_id(line), types.PARSE_ERROR, f"JSON nested deeper than {MAX_DEPTH}"
        )
    try:
        value = json.loads(line)
    except (ValueError, RecursionError) as exc:
        return None, _error(None, types.PARSE_ERROR, f"not JSON: {exc}")
    try:
        types.jsonrpc_message_adapter.validate_python(value, by_name=False)
    except Exception:
        ident = value.get("id") if isinstance(value, dict) else None
        if isinstance(ident, bool) or not isinstance(ident, int | str):
            ident = None
        what = "an empty batch" if value == [] else "not a JSON-RPC 2.0 message"
        return None, _error(ident, types.INVALID_REQUEST, f"invalid request: {what}")
    return line, None


def _error(ident: Any, code: int, message: str) -> types.JSONRPCError:
    return types.JSONRPCError(
        jsonrpc="2.0", id=ident, error=types.ErrorData(code=code, message=message)
    )


class LineSource(Protocol):
    """Where lines come from: the process's stdin, or the fast front's queue (`front`)."""

    def readline(self) -> bytes: ...


class TextSink(Protocol):
    """Where messages go: the process's stdout, or through the fast front (`front`)."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


class GuardedStdin:
    """The process's stdin as the SDK transport reads it, minus the lines it cannot handle,
    which are answered on `replies` (the transport's write stream) instead."""

    def __init__(self, source: LineSource) -> None:
        self._source: anyio.AsyncFile[bytes] = anyio.wrap_file(source)  # type: ignore[arg-type]
        self.replies: Any = None  # set once the transport is up (then `ready` is set)
        self.ready = anyio.Event()

    def __aiter__(self) -> AsyncIterator[str]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[str]:
        while raw := await self._source.readline():
            stripped = raw.strip()
            if not stripped:
                continue
            line, error = check_line(stripped)
            if line is not None:
                yield line + "\n"
                continue
            assert error is not None
            print(
                f"roundtable mcp: refused a message ({error.error.code}): {error.error.message}",
                file=sys.stderr,
                flush=True,
            )
            await self.ready.wait()
            await self.replies.send(SessionMessage(error))


async def run_guarded_stdio(
    server: MCPServer, source: LineSource | None = None, sink: TextSink | None = None
) -> None:
    """`server.run_stdio_async()`, with malformed input answered (see the module docstring),
    on the process's stdin and stdout unless `source` and `sink` stand in for them."""
    stdin = GuardedStdin(sys.stdin.buffer if source is None else source)
    stdout = None if sink is None else anyio.wrap_file(sink)  # type: ignore[arg-type]
    lowlevel = server._lowlevel_server  # the SDK's own run_stdio_async does the same
    async with stdio_server(stdin=stdin, stdout=stdout) as (  # type: ignore[arg-type]
        read_stream,
        write_stream,
    ):
        stdin.replies = write_stream
        stdin.ready.set()
        await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())
