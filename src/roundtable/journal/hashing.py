"""The hash chain (D4): each entry hashes its RFC 8785 canonical form, which includes the
previous entry's hash, so editing, removing or reordering any entry breaks every later link.
"""

from __future__ import annotations

import hashlib
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
