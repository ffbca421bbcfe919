"""Keyset cursors for ranked pages: (score, document id), best score first, then by id.

A cursor may also carry `n`, a backend's hint of how far into its ranking the page ended
(SQLite ranks a growing window of chunks; the hint lets the next page start wide enough).
"""

from __future__ import annotations

import base64
import json
from typing import NamedTuple

from sqlalchemy import ColumnElement

from roundtable.errors import InvalidInput


class Cursor(NamedTuple):
    score: float
    doc: str
    n: int = 0


def encode_cursor(score: float, document_id: str, n: int = 0) -> str:
    raw = json.dumps({"s": score, "d": document_id, **({"n": n} if n else {})}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> Cursor | None:
    if not cursor:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        score, doc, n = data["s"], data["d"], data.get("n", 0)
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(
            "malformed cursor: pass back next_cursor unchanged", field="cursor"
        ) from None
    if (
        not isinstance(score, int | float)
        or isinstance(score, bool)
        or not isinstance(doc, str)
        or not isinstance(n, int)
        or not 0 <= n <= 10_000_000
    ):
        raise InvalidInput("malformed cursor: pass back next_cursor unchanged", field="cursor")
    return Cursor(float(score), doc, n)


def after_clause(
    score: ColumnElement[float], doc: ColumnElement[str], after: Cursor | None
) -> list[ColumnElement[bool]]:
    """Keyset condition for the page after `after` (order: score descending, id ascending)."""
    if after is None:
        return []
    return [(score < after.score) | ((score == after.score) & (doc > after.doc))]


def is_after(score: float, doc: str, after: Cursor | None) -> bool:
    """`after_clause` in Python."""
    return after is None or score < after.score or (score == after.score and doc > after.doc)
