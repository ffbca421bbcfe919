"""Malformed JSON-RPC on stdio gets a JSON-RPC error, and the connection stays up.

The SDK's stdio transport drops a line it cannot parse or validate without answering, so a
client waiting on that request's id hangs. Roundtable's transport (`stdio_wire`) reads each
line with `parse_line`, and
- bytes that are not UTF-8 JSON, or nest deeper than `MAX_DEPTH`: -32700 (parse error);
- JSON that is not a JSON-RPC 2.0 message (`[]`, a request without `method`, a wrong
  `jsonrpc`, a line longer than `MAX_LINE_BYTES`, which `pipes` refuses as it arrives): -32600
  (invalid request);
each answered with the request's id when one can be read from the top level (else `null`), and
a line on stderr. Valid lines reach the SDK's session as parsed messages.
"""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types

from roundtable.mcp.pipes import MAX_LINE_BYTES

#: Deeper than anything a tool call needs (meta nests at most 64 levels inside a few wrappers).
MAX_DEPTH = 200


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


def parse_line(raw: bytes) -> tuple[types.JSONRPCMessage | None, types.JSONRPCError | None]:
    """(the message, or the error to answer with): exactly one is None. Each line is parsed
    once when it is well formed; only a refused one is looked at again, for the right error."""
    if len(raw) <= MAX_LINE_BYTES and raw.count(b"{") + raw.count(b"[") <= MAX_DEPTH:
        try:
            message = types.jsonrpc_message_adapter.validate_json(raw, by_name=False)
        except Exception:
            pass
        else:
            return message, None
    line, error = check_line(raw)
    if error is not None:
        return None, error
    assert line is not None
    try:
        return types.jsonrpc_message_adapter.validate_json(line, by_name=False), None
    except Exception as exc:  # Python's parser took what pydantic's refuses
        return None, _error(_top_level_id(line), types.INVALID_REQUEST, f"invalid request: {exc}")


def _error(ident: Any, code: int, message: str) -> types.JSONRPCError:
    return types.JSONRPCError(
        jsonrpc="2.0", id=ident, error=types.ErrorData(code=code, message=message)
    )
