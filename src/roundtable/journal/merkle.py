"""The RFC 9162 Merkle tree, pure: hashing, the incremental frontier, proofs and their checks.

A journal's leaves are its entries' leaf hashes, SHA-256(0x00 || RFC 8785 canonical entry),
leaf index = seq - 1; inner nodes are SHA-256(0x01 || left || right) (RFC 9162 §2.1.1). The tree
is kept incrementally: the *frontier* is the list of roots of the perfect subtrees along the right
edge (largest first, one per set bit of the size), so an append touches O(log n) hashes and
emits each inner node once, when its last leaf arrives. Node (level, idx) covers leaves
[idx * 2**level, (idx + 1) * 2**level); level 0 is a leaf.

Proof generation works on *plans*: the ranges of leaves whose subtree hashes form the proof
(RFC 9162 §2.1.3.1 PATH and §2.1.4.1 PROOF), each decomposed into perfect subtrees, so a caller
fetches every node it needs in one round trip (`needed_nodes`) and then `assemble`s. Every such
node is complete for any size up to the head, so proofs never recompute the tree.

The verifiers follow RFC 9162 §2.1.3.2 and §2.1.4.2 step by step; they are what clients run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

#: MTH({}) = SHA-256 of the empty string (RFC 9162 §2.1.1).
EMPTY_ROOT = hashlib.sha256(b"").digest()

Node = tuple[int, int]  # (level, idx)
Range = tuple[int, int]  # leaves [start, end)
#: A proof to be: one entry per proof element, the perfect subtrees whose right fold is it.
Plan = list[list[Node]]


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def append_leaves(
    frontier: Sequence[bytes], size: int, leaves: Iterable[bytes]
) -> tuple[list[bytes], list[tuple[int, int, bytes]]]:
    """Append leaf hashes to a tree of `size` leaves given by its frontier.

    Returns the new frontier and the inner nodes completed on the way, as (level, idx, hash).
    """
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


def root_from_frontier(frontier: Sequence[bytes]) -> bytes:
    """MTH of the whole tree: the frontier's roots folded from the right."""
    if not frontier:
        return EMPTY_ROOT
    root = frontier[-1]
    for left in reversed(frontier[:-1]):
        root = node_hash(left, root)
    return root


def subtrees(start: int, end: int) -> list[Node]:
    """The perfect subtrees, left to right, whose right fold is MTH(D[start:end]).

    `start` must be aligned as in the RFC's recursion (a multiple of the largest power of two
    not above end - start), which holds for every range a proof or a root asks for.
    """
    nodes: list[Node] = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start % (1 << level):
            raise ValueError(f"range [{start}, {end}) is not a subtree range")
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def _largest_power_below(n: int) -> int:
    """k: the largest power of two smaller than n (n > 1), the RFC's split point."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n]) as leaf ranges, leaf-side first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    ranges: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = _largest_power_below(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    return ranges[::-1]


def consistency_ranges(old: int, new: int) -> list[Range]:
    """RFC 9162 §2.1.4.1 PROOF(m, D[n]) as leaf ranges, in proof order."""
    if not 0 < old <= new:
        raise ValueError(f"no consistency proof from size {old} to size {new}")
    ranges: list[Range] = []
    start, end, m, complete = 0, new, old, True
    while m != end - start:
        k = _largest_power_below(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, m, complete = start + k, m - k, False
    if not complete:
        ranges.append((start, end))
    return ranges[::-1]


def plan(ranges: Sequence[Range]) -> Plan:
    return [subtrees(start, end) for start, end in ranges]


def needed_nodes(plans: Iterable[Plan]) -> set[Node]:
    return {node for p in plans for nodes in p for node in nodes}


def fold(nodes: Sequence[Node], hashes: Mapping[Node, bytes]) -> bytes:
    """Right fold of perfect subtrees (left to right) into their range's MTH."""
    result = hashes[nodes[-1]]
    for node in reversed(nodes[:-1]):
        result = node_hash(hashes[node], result)
    return result


def assemble(p: Plan, hashes: Mapping[Node, bytes]) -> list[bytes]:
    return [fold(nodes, hashes) for nodes in p]


Fetcher = Callable[[set[Node]], Mapping[Node, bytes]]


def inclusion_proof(index: int, size: int, fetch: Fetcher) -> list[bytes]:
    """The audit path of leaf `index` in the tree of `size` leaves, fetching nodes via `fetch`."""
    p = plan(inclusion_ranges(index, size))
    return assemble(p, fetch(needed_nodes([p])))


def consistency_proof(old: int, new: int, fetch: Fetcher) -> list[bytes]:
    """The proof that the tree of `old` leaves is a prefix of the tree of `new` leaves."""
    p = plan(consistency_ranges(old, new))
    return assemble(p, fetch(needed_nodes([p])))


def root(size: int, fetch: Fetcher) -> bytes:
    """MTH of the first `size` leaves from stored complete nodes (O(log n) of them)."""
    if size == 0:
        return EMPTY_ROOT
    nodes = subtrees(0, size)
    return fold(nodes, fetch(set(nodes)))


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does `proof` show leaf hash `leaf` at `index` in the tree `root_hash`?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root_hash


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: is the tree (`old_size`, `old_root`) a prefix of (`new_size`, `new_root`)?"""
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
