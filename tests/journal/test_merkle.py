"""`journal.merkle` against published RFC 6962 test vectors, an independent verifier and Hypothesis.

The vectors are the Certificate Transparency reference tree of eight leaves, as published in
google/trillian `internal/merkle/inmemory/merkle_tree_test.go` (`leafInputs`, `rootsAtSize`,
`testPaths`, `testProofs`; "test inputs came from the values used by the C++ code ... in the main
certificate transparency repo at cpp/merkletree/merkletree_test.cc"). The same eight leaves and
roots are used by transparency-dev/merkle and Go's sumdb `tlog` tests. Note `testPaths` numbers
leaves from 1 there; here leaf indexes are 0-based (RFC 9162).
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roundtable.journal import merkle
from tests.journal import independent

LEAF_INPUTS = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
ROOTS_AT_SIZE = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
EMPTY_TREE = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#: (leaf index, tree size, audit path)
INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (0, 1, []),
]
#: (old size, new size, consistency proof)
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]


class MemoryTree:
    """Leaves appended in batches through `merkle.append_leaves`, nodes kept as a store would."""

    def __init__(self) -> None:
        self.frontier: list[bytes] = []
        self.size = 0
        self.nodes: dict[merkle.Node, bytes] = {}

    def extend(self, leaves: list[bytes]) -> None:
        self.frontier, completed = merkle.append_leaves(self.frontier, self.size, leaves)
        for i, h in enumerate(leaves):
            self.nodes[(0, self.size + i)] = h
        for level, idx, h in completed:
            assert (level, idx) not in self.nodes, "an inner node is emitted once"
            self.nodes[(level, idx)] = h
        self.size += len(leaves)

    def fetch(self, wanted: set[merkle.Node]) -> dict[merkle.Node, bytes]:
        return {n: self.nodes[n] for n in wanted}


def reference_tree() -> tuple[MemoryTree, list[bytes]]:
    leaves = [merkle.leaf_hash(bytes.fromhex(x)) for x in LEAF_INPUTS]
    t = MemoryTree()
    for h in leaves:
        t.extend([h])
    return t, leaves


def test_empty_root_and_hashing() -> None:
    assert merkle.EMPTY_ROOT.hex() == EMPTY_TREE
    assert merkle.root_from_frontier([]) == merkle.EMPTY_ROOT
    assert merkle.leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert merkle.node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()


def test_roots_at_every_size_match_the_published_vectors() -> None:
    leaves = [merkle.leaf_hash(bytes.fromhex(x)) for x in LEAF_INPUTS]
    t = MemoryTree()
    for size, expected in enumerate(ROOTS_AT_SIZE, start=1):
        t.extend([leaves[size - 1]])
        assert merkle.root_from_frontier(t.frontier).hex() == expected
    for size, expected in enumerate(ROOTS_AT_SIZE, start=1):
        assert merkle.root(size, t.fetch).hex() == expected  # from stored nodes, any size
    assert merkle.root(0, t.fetch).hex() == EMPTY_TREE


@pytest.mark.parametrize(("index", "size", "expected"), INCLUSION)
def test_inclusion_proofs_match_the_published_vectors(
    index: int, size: int, expected: list[str]
) -> None:
    t, leaves = reference_tree()
    got = merkle.inclusion_proof(index, size, t.fetch)
    assert [h.hex() for h in got] == expected
    root = bytes.fromhex(ROOTS_AT_SIZE[size - 1])
    assert merkle.verify_inclusion(leaves[index], index, size, got, root)
    assert independent.verify_inclusion(leaves[index], index, size, got, root)


@pytest.mark.parametrize(("old", "new", "expected"), CONSISTENCY)
def test_consistency_proofs_match_the_published_vectors(
    old: int, new: int, expected: list[str]
) -> None:
    t, _ = reference_tree()
    got = merkle.consistency_proof(old, new, t.fetch)
    assert [h.hex() for h in got] == expected
    old_root, new_root = (bytes.fromhex(ROOTS_AT_SIZE[s - 1]) for s in (old, new))
    assert merkle.verify_consistency(old, new, old_root, new_root, got)
    assert independent.verify_consistency(old, new, old_root, new_root, got)


def test_every_proof_up_to_70_leaves_agrees_with_the_independent_tree() -> None:
    data = [bytes([i]) * (i % 5) for i in range(70)]
    leaves = [independent.leaf(d) for d in data]
    t = MemoryTree()
    t.extend(leaves[:3])
    for start in range(3, 70, 7):  # batches of 7 cross every kind of subtree boundary
        t.extend(leaves[start : start + 7])
    roots = [independent.mth(leaves[:n]) for n in range(71)]
    for n in range(1, 71):
        assert merkle.root(n, t.fetch) == roots[n]
        for i in range(n):
            p = merkle.inclusion_proof(i, n, t.fetch)
            assert p == independent.path(i, leaves[:n])
            assert merkle.verify_inclusion(leaves[i], i, n, p, roots[n])
            assert independent.verify_inclusion(leaves[i], i, n, p, roots[n])
        for m in range(1, n + 1):
            c = merkle.consistency_proof(m, n, t.fetch)
            assert c == independent.proof(m, leaves[:n])
            assert merkle.verify_consistency(m, n, roots[m], roots[n], c)
            assert independent.verify_consistency(m, n, roots[m], roots[n], c)


def test_verifiers_refuse_wrong_claims() -> None:
    t, leaves = reference_tree()
    root8 = bytes.fromhex(ROOTS_AT_SIZE[7])
    p = merkle.inclusion_proof(5, 8, t.fetch)
    assert not merkle.verify_inclusion(leaves[4], 5, 8, p, root8)  # other leaf
    assert not merkle.verify_inclusion(leaves[5], 4, 8, p, root8)  # other index
    assert not merkle.verify_inclusion(leaves[5], 5, 6, p, root8)  # other size (other shape)
    assert not merkle.verify_inclusion(leaves[5], 5, 8, p[:-1], root8)  # short
    assert not merkle.verify_inclusion(leaves[5], 5, 8, [*p, p[0]], root8)  # long
    assert not merkle.verify_inclusion(leaves[5], 8, 8, p, root8)  # index out of range
    c = merkle.consistency_proof(6, 8, t.fetch)
    root6 = bytes.fromhex(ROOTS_AT_SIZE[5])
    assert not merkle.verify_consistency(6, 8, root8, root8, c)
    assert not merkle.verify_consistency(5, 8, root6, root8, c)
    assert not merkle.verify_consistency(6, 8, root6, root8, c[:-1])
    assert not merkle.verify_consistency(8, 6, root8, root6, c)
    assert not merkle.verify_consistency(0, 8, merkle.EMPTY_ROOT, root8, [])
    assert not merkle.verify_consistency(8, 8, root8, root6, [])
    with pytest.raises(ValueError):
        merkle.inclusion_ranges(8, 8)
    with pytest.raises(ValueError):
        merkle.consistency_ranges(0, 8)
    with pytest.raises(ValueError):
        merkle.append_leaves([], 3, [leaves[0]])  # a frontier that does not fit the size


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(st.binary(max_size=8), min_size=1, max_size=300),
    cuts=st.lists(st.integers(min_value=1, max_value=40), max_size=20),
    picks=st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=5),
)
def test_incremental_tree_equals_the_definition(
    data: list[bytes], cuts: list[int], picks: list[tuple[float, float]]
) -> None:
    """However the leaves are batched, roots and proofs equal those of the recursive definition,
    and every flipped bit in a proof makes it fail."""
    leaves = [merkle.leaf_hash(d) for d in data]
    t, at = MemoryTree(), 0
    for cut in cuts:
        t.extend(leaves[at : at + cut])
        at = min(at + cut, len(leaves))
    t.extend(leaves[at:])
    n = len(leaves)
    assert merkle.root_from_frontier(t.frontier) == independent.mth(leaves)
    for a, b in picks:
        size = 1 + int(a * (n - 1))
        index = int(b * (size - 1))
        root = independent.mth(leaves[:size])
        p = merkle.inclusion_proof(index, size, t.fetch)
        assert independent.verify_inclusion(leaves[index], index, size, p, root)
        assert merkle.verify_inclusion(leaves[index], index, size, p, root)
        old = 1 + index
        old_root = independent.mth(leaves[:old])
        c = merkle.consistency_proof(old, size, t.fetch)
        assert independent.verify_consistency(old, size, old_root, root, c)
        assert merkle.verify_consistency(old, size, old_root, root, c)
        for k in range(len(p)):
            assert not merkle.verify_inclusion(leaves[index], index, size, flip(p, k), root)
        for k in range(len(c)):
            assert not merkle.verify_consistency(old, size, old_root, root, flip(c, k))


def flip(proof: list[bytes], k: int) -> list[bytes]:
    """The proof with one bit of its k-th hash flipped."""
    bad = list(proof)
    bad[k] = bytes([bad[k][0] ^ 1]) + bad[k][1:]
    return bad
