"""Opaque pagination cursors: base64url JSON, validated on the way back in."""

from __future__ import annotations

import base64
import json

from roundtable.errors import InvalidInput

#: Positions are row ids (64-bit signed in both databases); a larger one cannot be a real cursor.
MAX_POSITION = 2**63 - 1


def encode(position: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"p": position}).encode()).decode().rstrip("=")


def decode(cursor: str | None) -> int | None:
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)["p"]
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(
            "malformed cursor: pass back a next_cursor unchanged", field="cursor"
        ) from None
    if (
        not isinstance(position, int)
        or isinstance(position, bool)
        or not 0 <= position <= MAX_POSITION
    ):
        raise InvalidInput("malformed cursor: pass back a next_cursor unchanged", field="cursor")
    return position
