"""Finding the JSON value in an agent's answer, in a fixed and documented order.

1. The whole text (stripped) parses as JSON: that value.
2. Otherwise the first fenced code block (```json, ```JSON or a bare ```) whose body parses.
3. Otherwise the first balanced JSON value: scanning from the left, the first `{` or `[` at
   which a complete object or array parses (brackets inside strings and escapes respected;
   what follows it is ignored).

Nothing is repaired: trailing commas, comments and truncated JSON are not JSON, and the error
says so. Bounded: at most `MAX_STARTS` candidate openings are tried, each parsed by the C decoder.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

#: How many `{`/`[` openings step 3 tries before giving up (keeps a huge answer linear).
MAX_STARTS = 64
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)
_NO_VALUE = object()


class NotFound(ValueError):
    """No JSON value could be extracted; the message says why (for the retry prompt)."""


@dataclass(frozen=True)
class Extracted:
    value: Any
    how: str  # "whole" | "fenced" | "balanced"


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return _NO_VALUE


_DECODER = json.JSONDecoder()


def _value_at(text: str, start: int) -> Any:
    """The complete JSON value beginning at `start` (C speed; stops at the first error)."""
    try:
        return _DECODER.raw_decode(text, start)[0]
    except (ValueError, RecursionError):
        return _NO_VALUE


def extract(text: str | None) -> Extracted:
    """The JSON value in `text` (see the module docstring), or `NotFound` saying why."""
    if text is None or not text.strip():
        raise NotFound("the answer is empty: expected a JSON value")
    whole = _loads(text.strip())
    if whole is not _NO_VALUE:
        return Extracted(whole, "whole")
    for match in _FENCE.finditer(text):
        if match.group(1).lower() not in ("", "json", "jsonc", "json5"):
            continue
        value = _loads(match.group(2).strip())
        if value is not _NO_VALUE:
            return Extracted(value, "fenced")
    starts = 0
    position = 0
    while starts < MAX_STARTS:
        found = [i for i in (text.find("{", position), text.find("[", position)) if i >= 0]
        if not found:
            break
        start = min(found)
        starts += 1
        value = _value_at(text, start)
        if value is not _NO_VALUE:
            return Extracted(value, "balanced")
        position = start + 1
    if starts == 0:
        raise NotFound("no JSON value found in the answer: reply with a single JSON value")
    raise NotFound(
        "the answer contains no valid JSON value (unbalanced brackets, truncated output, "
        "trailing commas or comments?): reply with a single complete JSON value"
    )
