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
    if ts.tzinfo is UTC and ts.year >= 1000:
        # The same text, ~3x faster than strftime (every append hashes one); `%Y` is not
        # zero-padded below year 1000 on glibc, so those keep the original path.
        return ts.isoformat(timespec="microseconds")[:-6] + "Z"
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_SAFE_INT = 2**53 - 1
_FAST = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _plain(value: Any) -> bool:
    """True when sorted-key compact `json.dumps` provably equals RFC 8785 for `value`: only
    strings, booleans, null, safe integers, lists and objects with ASCII keys (UTF-16 and code
    point order agree on ASCII; no floats, whose number formatting differs)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-_SAFE_INT <= value <= _SAFE_INT)
    if kind is dict:
        return all(type(k) is str and k.isascii() and _plain(v) for k, v in value.items())
    if kind is list:
        return all(_plain(v) for v in value)
    return False


def canonical_json(value: Any) -> bytes:
    """RFC 8785 bytes of `value`: through the C JSON encoder when that is provably the same
    (issue 16: the pure-Python canonicaliser was a large share of an append's CPU), else
    `rfc8785.dumps` (which also raises on what has no canonical form)."""
    if _plain(value):
        try:
            return _FAST.encode(value).encode()
        except UnicodeEncodeError:  # a lone surrogate: let rfc8785 decide
            pass
    return rfc8785.dumps(value)


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
    return canonical_json(
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
