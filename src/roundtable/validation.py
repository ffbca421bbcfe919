"""Checks on names and JSON values shared by every service (the edge of the domain)."""

from __future__ import annotations

import json
import re
from typing import Any

import rfc8785

from roundtable.errors import InvalidInput

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
    try:
        size = len(rfc8785.dumps(meta))
    except Exception as exc:  # rfc8785 raises its own types for NaN, huge ints, bad keys
        raise InvalidInput(f"meta cannot be canonicalised as JSON: {exc}", field="meta") from None
    if size > max_bytes:
        raise InvalidInput(
            f"meta is {size} bytes; the limit is {max_bytes}", field="meta", limit=max_bytes
        )
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
    return message
