"""An independent RFC 9162 Merkle tree: hashlib only, straight from the RFC's recursive definitions.

It shares no code with `roundtable.journal.merkle` (which iterates with bit tricks, RFC 9162
§2.1.3.2 / §2.1.4.2); this one recurses on the definitions of MTH, PATH and PROOF (§2.1.1,
§2.1.3.1, §2.1.4.1), so an error in one is unlikely to be repeated in the other. It verifies a
proof by rebuilding the roots the proof implies and comparing them with the claimed ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaf_hashes: Sequence[bytes]) -> bytes:
    n = len(leaf_hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaf_hashes[0]
    k = split(n)
    return node(mth(leaf_hashes[:k]), mth(leaf_hashes[k:]))


def path(m: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) by its definition."""
    n = len(leaf_hashes)
    if n == 1:
        return []
    k = split(n)
    if m < k:
        return [*path(m, leaf_hashes[:k]), mth(leaf_hashes[k:])]
    return [*path(m - k, leaf_hashes[k:]), mth(leaf_hashes[:k])]


def proof(m: int, leaf_hashes: Sequence[bytes], whole: bool = True) -> list[bytes]:
    """SUBPROOF(m, D[n], b) by its definition (PROOF is b = true)."""
    n = len(leaf_hashes)
    if m == n:
        return [] if whole else [mth(leaf_hashes)]
    k = split(n)
    if m <= k:
        return [*proof(m, leaf_hashes[:k], whole), mth(leaf_hashes[k:])]
    return [*proof(m - k, leaf_hashes[k:], False), mth(leaf_hashes[:k])]


def _root_from_path(index: int, size: int, leaf_hash: bytes, p: list[bytes]) -> bytes | None:
    if size == 1:
        return leaf_hash if not p else None
    if not p:
        return None
    k = split(size)
    if index < k:
        left = _root_from_path(index, k, leaf_hash, p[:-1])
        return None if left is None else node(left, p[-1])
    right = _root_from_path(index - k, size - k, leaf_hash, p[:-1])
    return None if right is None else node(p[-1], right)


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, p: Sequence[bytes], root: bytes
) -> bool:
    if not 0 <= index < size:
        return False
    return _root_from_path(index, size, leaf_hash, list(p)) == root


def _roots_from_proof(
    m: int, n: int, p: list[bytes], whole: bool, old_root: bytes
) -> tuple[bytes, bytes] | None:
    """The (old, new) roots a SUBPROOF implies; None if it has the wrong shape."""
    if m == n:
        if whole:
            return (old_root, old_root) if not p else None
        return (p[0], p[0]) if len(p) == 1 else None
    if not p:
        return None
    k = split(n)
    if m <= k:
        inner = _roots_from_proof(m, k, p[:-1], whole, old_root)
        return None if inner is None else (inner[0], node(inner[1], p[-1]))
    inner = _roots_from_proof(m - k, n - k, p[:-1], False, old_root)
    return None if inner is None else (node(p[-1], inner[0]), node(p[-1], inner[1]))


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, p: Sequence[bytes]
) -> bool:
    if not 0 < old_size <= new_size:
        return False
    roots = _roots_from_proof(old_size, new_size, list(p), True, old_root)
    return roots == (old_root, new_root)
