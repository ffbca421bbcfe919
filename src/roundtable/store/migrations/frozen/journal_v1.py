"""The journal's canonical entry form (format 1) and RFC 9162 tree appends, as of migration 0002.

Frozen copy of `roundtable.journal.hashing.canonical_entry` and `roundtable.journal.merkle`'s
`leaf_hash`, `node_hash` and `append_leaves` for migration 0002's backfill; never edit it (see
the package docstring).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import rfc8785

FORMAT_VERSION = 1


def format_ts(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_entry(
    *,
    namespace: str,
    project: str,
    seq: int,
    ts: datetime,
    agent: str,
    session_id: str | None,
    status: str,
    kind: str,
    message: str,
    meta: dict[str, Any],
    prev_hash: str,
) -> bytes:
    return rfc8785.dumps(
        {
            "v": FORMAT_VERSION,
            "namespace": namespace,
            "project": project,
            "seq": seq,
            "ts": format_ts(ts),
            "agent": agent,
            "session_id": session_id,
            "status": status,
            "kind": kind,
            "message": message,
            "meta": meta,
            "prev_hash": prev_hash,
        }
    )


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def append_leaves(
    frontier: Sequence[bytes], size: int, leaves: Iterable[bytes]
) -> tuple[list[bytes], list[tuple[int, int, bytes]]]:
    """Append leaf hashes to a tree of `size` leaves; the new frontier and completed nodes."""
    if len(frontier) != size.bit_count():
        raise ValueError(
            f"a frontier of size {size} has {size.bit_count()} roots, not {len(frontier)}"
        )
    stack = list(frontier)
    completed: list[tuple[int, int, bytes]] = []
    for leaf in leaves:
        current, level, idx = leaf, 0, size
        while (size >> level) & 1:
            current = node_hash(stack.pop(), current)
            level += 1
            idx >>= 1
            completed.append((level, idx, current))
        stack.append(current)
        size += 1
    return stack, completed
