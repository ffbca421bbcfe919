"""`roundtable proof`: proofs fetched over HTTP and verified locally; exit 8 when they do not."""

from __future__ import annotations

import json

from tests.cli.conftest import Cli
from tests.cli.test_verify import tamper
from tests.journal import independent


def _fill(cli: Cli, n: int) -> None:
    cli.use("alice", "p")
    r = cli.api.post(
        "/projects/p/entries",
        json={"agent": "alice", "entries": [{"message": f"m{i}"} for i in range(1, n + 1)]},
    )
    assert r.status_code == 201, r.text


def test_proof_head_inclusion_and_consistency(cli: Cli) -> None:
    _fill(cli, 13)
    head = cli.api.get("/projects/p/tree").json()
    result = cli.ok("proof", "p")
    assert f"tree of size 13: root {head['root']}" in result.stdout

    result = cli.ok("proof", "p", "--seq", "3")
    assert "entry 3 is in the tree of size 13" in result.stdout
    assert "verified locally" in result.stdout

    doc = json.loads(cli.ok("proof", "p", "--seq", "3", "--size", "5", "--json").stdout)
    assert (doc["verified"], doc["tree_size"], doc["leaf_index"]) == (True, 5, 2)
    assert independent.verify_inclusion(
        bytes.fromhex(doc["leaf_hash"]),
        2,
        5,
        [bytes.fromhex(h) for h in doc["path"]],
        bytes.fromhex(doc["root"]),
    )

    old = cli.api.get("/projects/p/tree", params={"size": 4}).json()
    result = cli.ok("proof", "p", "--consistency", "4", "--old-root", old["root"])
    assert "size 4" in result.stdout and "prefix" in result.stdout
    doc = json.loads(cli.ok("proof", "p", "--consistency", "4", "--size", "9", "--json").stdout)
    assert (doc["verified"], doc["old_size"], doc["new_size"]) == (True, 4, 9)

    # A root the user trusts that the server's tree does not have: refused, exit 8.
    result = cli("proof", "p", "--seq", "3", "--root", "00" * 32)
    assert result.exit_code == 8 and "does NOT verify" in result.stdout
    result = cli("proof", "p", "--consistency", "4", "--old-root", head["root"])
    assert result.exit_code == 8 and "not the root you gave" in result.stdout


def test_proof_catches_an_edited_entry(cli: Cli) -> None:
    _fill(cli, 6)
    cli.ok("proof", "p", "--seq", "2")
    tamper(cli.server.settings, "p", 2)
    result = cli("proof", "p", "--seq", "2")
    assert result.exit_code == 8, (result.stdout, result.stderr)
    assert "entry 2 as served does not hash to the proof's leaf hash" in result.stdout
    cli.ok("proof", "p", "--seq", "3")  # the others still prove


def test_proof_bad_input(cli: Cli) -> None:
    _fill(cli, 5)
    cases = [
        (("--seq", "3", "--size", "0"), 2, "sizes run from 1"),
        (("--seq", "3", "--size", "2"), 2, "entry 3 is not in the tree of size 2"),
        (("--seq", "3", "--size", "6"), 2, "beyond the journal's head"),
        (("--seq", "9"), 3, "no entry 9"),
        (("--consistency", "5", "--size", "4"), 2, "old_size=5 is larger than new_size=4"),
        (("--seq", "1", "--consistency", "1"), 2, "not both"),
    ]
    for args, code, message in cases:
        result = cli("proof", "p", *args)
        assert result.exit_code == code, (args, result.stdout, result.stderr)
        assert message in result.stderr, (args, result.stderr)
