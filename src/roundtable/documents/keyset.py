"""Keyset cursors for ranked pages: (score, document id), best score first, then by id."""

from __future__ import annotations

import base64
import json

from sqlalchemy import ColumnElement

from roundtable.errors import InvalidInput

Cursor = tuple[float, str]


def encode_cursor(score: float, document_id: str) -> str:
    raw = json.dumps({"s": score, "d": document_id}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> Cursor | None:
    if not cursor:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        score, doc = data["s"], data["d"]
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(
            "malformed cursor: pass back next_cursor unchanged", field="cursor"
        ) from None
    if not isinstance(score, int | float) or isinstance(score, bool) or not isinstance(doc, str):
        raise InvalidInput("malformed cursor: pass back next_cursor unchanged", field="cursor")
    return float(score), doc


def after_clause(
    score: ColumnElement[float], doc: ColumnElement[str], after: Cursor | None
) -> list[ColumnElement[bool]]:
    """Keyset condition for the page after `after` (order: score descending, id ascending)."""
    if after is None:
        return []
    s, d = after
    return [(score < s) | ((score == s) & (doc > d))]
