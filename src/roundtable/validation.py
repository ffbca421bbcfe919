"""Checks on names and JSON values shared by every service (the edge of the domain)."""

from __future__ import annotations

import json
import re
from typing import Any

from roundtable.errors import InvalidInput
from roundtable.journal.hashing import canonical_json

_PATTERNS = {
    "namespace": (re.compile(r"[a-z0-9][a-z0-9_-]{0,63}"), "lowercase letters, digits, _ and -"),
    "agent": (re.compile(r"[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}"), "letters, digits and ._@:-"),
    "project": (re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"), "letters, digits and ._-"),
    "kind": (re.compile(r"[a-z][a-z0-9_.-]{0,63}"), "lowercase letters, digits and _.-"),
    "meta key": (re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"), "letters, digits and _.-"),
}


def check_name(what: str, value: object) -> str:
    """Return `value` if it is a valid `what` name, else raise `InvalidInput` naming the rule."""
    pattern, allowed = _PATTERNS[what]
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidInput(
            f"invalid {what} {value!r}: use 1-{128 if what != 'namespace' else 64} of {allowed}, "
            "starting with a letter or digit",
            field=what,
        )
    return value


#: How deeply `meta` (and session metadata) may nest objects and arrays.
MAX_META_DEPTH = 64


def check_meta(meta: object, max_bytes: int) -> dict[str, Any]:
    """A JSON object that canonicalises under RFC 8785 and fits in `max_bytes`."""
    if meta is None:
        return {}
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except ValueError as exc:
            raise InvalidInput(f"meta is not valid JSON: {exc}", field="meta") from None
    if not isinstance(meta, dict):
        raise InvalidInput("meta must be a JSON object", field="meta")
    has_nul, depth = _inspect(meta)
    if depth > MAX_META_DEPTH:
        raise InvalidInput(
            f"meta nests {depth} levels deep; the limit is {MAX_META_DEPTH}",
            field="meta",
            limit=MAX_META_DEPTH,
        )
    try:
        size = len(canonical_json(meta))
    except Exception as exc:  # rfc8785 raises its own types for NaN, huge ints, bad keys
        raise InvalidInput(f"meta cannot be canonicalised as JSON: {exc}", field="meta") from None
    if size > max_bytes:
        raise InvalidInput(
            f"meta is {size} bytes; the limit is {max_bytes}", field="meta", limit=max_bytes
        )
    if has_nul:
        raise InvalidInput("meta contains a NUL character (U+0000)", field="meta")
    return meta


def check_message(message: object, max_chars: int) -> str:
    if not isinstance(message, str) or not message.strip():
        raise InvalidInput("message must be a non-empty string", field="message")
    if len(message) > max_chars:
        raise InvalidInput(
            f"message is {len(message)} characters; the limit is {max_chars}",
            field="message",
            limit=max_chars,
        )
    return check_text("message", message)


def check_text(what: str, value: str) -> str:
    """Text both databases store as given: valid Unicode without NUL (PostgreSQL refuses it)."""
    if "\x00" in value:
        raise InvalidInput(f"{what} contains a NUL character (U+0000)", field=what)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{what} is not valid Unicode (lone surrogate)", field=what) from None
    return value


def _inspect(value: object) -> tuple[bool, int]:
    """Whether a string or key inside a JSON value contains NUL, and how deep containers nest.

    Iterative, so any depth can be measured; deep values are refused because every interface
    must be able to serialise what was stored (pydantic stops at a few hundred levels).
    """
    has_nul, deepest = False, 0
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            has_nul = has_nul or "\x00" in item
        elif isinstance(item, dict):
            deepest = max(deepest, depth)
            pending.extend((key, depth) for key in item)
            pending.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, depth)
            pending.extend((child, depth + 1) for child in item)
    return has_nul, deepest
