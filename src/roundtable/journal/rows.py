"""Turning entry rows (joined with their project) into `Entry` models."""

from __future__ import annotations

from typing import Any

from roundtable.journal.models import Entry, Status
from roundtable.store import tables

E = tables.entries
P = tables.projects

#: Columns of an entry joined with its project's name, as `entry_from_row` expects.
ENTRY_COLUMNS = (*E.c, P.c.namespace, P.c.name.label("project"))


def entry_from_row(m: Any) -> Entry:
    status = Status(m["status"])
    return Entry(
        namespace=m["namespace"],
        project=m["project"],
        seq=m["seq"],
        ts=m["ts"],
        agent=m["agent"],
        session_id=m["session_id"],
        status=status,
        emoji=status.emoji,
        kind=m["kind"],
        message=m["message"],
        meta=m["meta"],
        prev_hash=m["prev_hash"],
        hash=m["hash"],
    )
