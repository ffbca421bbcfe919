"""The hash chain (D4): each entry hashes its RFC 8785 canonical form, which includes the
previous entry's hash, so editing, removing or reordering any entry breaks every later link.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import rfc8785

#: `prev_hash` of a project's first entry.
GENESIS = "0" * 64

#: Bumped if the canonical form ever changes; it is part of what is hashed.
FORMAT_VERSION = 1


def format_ts(ts: datetime) -> str:
    """Timestamps hash as UTC ISO 8601 with microseconds, e.g. 2026-01-05T12:00:00.000000Z."""
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


def entry_hash(canonical: bytes) -> str:
    return hashlib.sha256(canonical).hexdigest()


_FAST = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)


def stored_canonical(
    namespace: str, project: str, row: Mapping[str, Any], *, seq: int, prev_hash: str, expect: str
) -> bytes:
    """The canonical bytes of a stored entry `row`, computed quickly when it is intact.

    Sorted-key compact `json.dumps` equals RFC 8785 for nearly every entry (no floats, no keys
    that sort differently in UTF-16) and is about five times faster than the general
    canonicaliser. It is kept only when its SHA-256 is `expect` (the stored hash), which proves
    it is byte for byte the hashed form; otherwise `canonical_entry` decides, and a result that
    does not hash to `expect` tells the caller the entry is damaged.
    """
    fields: dict[str, Any] = {
        "seq": seq,
        "agent": row["agent"],
        "session_id": row["session_id"],
        "status": row["status"],
        "kind": row["kind"],
        "message": row["message"],
        "meta": row["meta"],
        "prev_hash": prev_hash,
    }
    try:
        fast = _FAST.encode(
            {"v": FORMAT_VERSION, "namespace": namespace, "project": project}
            | fields
            | {"ts": format_ts(row["ts"])}
        ).encode()
    except (TypeError, ValueError, UnicodeEncodeError):
        fast = b""
    if fast and entry_hash(fast) == expect:
        return fast
    return canonical_entry(namespace=namespace, project=project, ts=row["ts"], **fields)
