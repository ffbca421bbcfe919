"""`roundtable proof PROJECT`: fetch a Merkle tree head or proof and check it here, locally.

`--seq N` asks for the inclusion proof of entry N; the CLI also fetches the entry, recomputes its
leaf hash from its canonical form and runs RFC 9162 verification itself, so a server that
altered the entry or the path is caught. `--consistency OLD` asks for the proof that the tree
of OLD entries is a prefix of the current one (or of `--size`). `--root` / `--old-root` pin
roots you already trust (e.g. from a signed checkpoint). Exit 8 when anything does not verify,
as `roundtable verify` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.text import Text

from roundtable.cli.common import (
    JsonOpt,
    NamespaceOpt,
    TokenOpt,
    UrlOpt,
    err,
    fail,
    out,
    print_json,
    target,
)
from roundtable.cli.render import short
from roundtable.cli.verify import TAMPERED
from roundtable.client.http import RoundtableClient
from roundtable.errors import InvalidInput
from roundtable.journal import merkle
from roundtable.journal.models import ConsistencyProof, Entry, InclusionProof, QueryFilter, TreeHead


@dataclass
class Checked:
    answer: TreeHead | InclusionProof | ConsistencyProof
    ok: bool
    summary: str
    problems: list[str]


def entry_leaf(entry: Entry) -> bytes:
    """The RFC 9162 leaf hash of an entry, recomputed from what the server returned."""
    return merkle.leaf_hash(entry.canonical())


def _pinned(label: str, got: str, expected: str | None) -> list[str]:
    if expected is None or got == expected.lower():
        return []
    return [f"{label} {short(got)}… is not the root you gave ({short(expected)}…)"]


async def _inclusion(
    client: RoundtableClient, project: str, seq: int, size: int | None, root: str | None
) -> Checked:
    proof = await client.inclusion_proof(project, seq, size)
    page = await client.query(QueryFilter(projects=[project], seq_min=seq, seq_max=seq, limit=1))
    problems = _pinned("the tree root", proof.root, root)
    if not page.entries:
        problems.append(f"the server returned no entry {seq} to check the leaf against")
    elif entry_leaf(page.entries[0]).hex() != proof.leaf_hash:
        problems.append(f"entry {seq} as served does not hash to the proof's leaf hash")
    if not merkle.verify_inclusion(
        bytes.fromhex(proof.leaf_hash),
        proof.leaf_index,
        proof.tree_size,
        [bytes.fromhex(h) for h in proof.path],
        bytes.fromhex(proof.root),
    ):
        problems.append("the audit path does not lead from the leaf to the root")
    summary = (
        f"entry {seq} is in the tree of size {proof.tree_size} (root {short(proof.root)}…): "
        f"leaf recomputed and {len(proof.path)}-hash audit path verified locally"
    )
    return Checked(proof, not problems, summary, problems)


async def _consistency(
    client: RoundtableClient,
    project: str,
    old: int,
    size: int | None,
    root: str | None,
    old_root: str | None,
) -> Checked:
    proof = await client.consistency_proof(project, old, size)
    problems = _pinned("the new root", proof.new_root, root)
    problems += _pinned("the old root", proof.old_root, old_root)
    if not merkle.verify_consistency(
        proof.old_size,
        proof.new_size,
        bytes.fromhex(proof.old_root),
        bytes.fromhex(proof.new_root),
        [bytes.fromhex(h) for h in proof.path],
    ):
        problems.append("the consistency path does not link the two roots")
    summary = (
        f"the tree of size {proof.old_size} (root {short(proof.old_root)}…) is a prefix of "
        f"the tree of size {proof.new_size} (root {short(proof.new_root)}…): "
        f"{len(proof.path)}-hash consistency proof verified locally"
    )
    return Checked(proof, not problems, summary, problems)


async def _head(client: RoundtableClient, project: str, size: int | None) -> Checked:
    head = await client.tree_head(project, size)
    return Checked(head, True, f"tree of size {head.size}: root {head.root}", [])


def proof(
    project: Annotated[str, typer.Argument(help="Project whose journal to prove.")],
    seq: Annotated[
        int | None, typer.Option("--seq", help="Prove entry SEQ is in the tree (inclusion).")
    ] = None,
    consistency: Annotated[
        int | None,
        typer.Option(
            "--consistency", metavar="OLD", help="Prove the tree of OLD entries is a prefix."
        ),
    ] = None,
    size: Annotated[
        int | None, typer.Option("--size", help="Tree size to prove against (default: the head).")
    ] = None,
    root: Annotated[
        str | None, typer.Option("--root", help="Insist the tree at SIZE has this root (hex).")
    ] = None,
    old_root: Annotated[
        str | None, typer.Option("--old-root", help="Insist the tree at OLD has this root (hex).")
    ] = None,
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Show a journal's Merkle root, or fetch an inclusion or consistency proof and verify it
    locally (RFC 9162); exit 8 if it does not verify."""
    t = target(url=url, token=token, namespace=namespace)
    if seq is not None and consistency is not None:
        raise fail(InvalidInput("give --seq or --consistency, not both", field="seq"))

    async def work(client: RoundtableClient) -> Checked:
        if seq is not None:
            return await _inclusion(client, project, seq, size, root)
        if consistency is not None:
            return await _consistency(client, project, consistency, size, root, old_root)
        return await _head(client, project, size)

    with err.status(f"fetching the proof from {t.url}…"):
        checked = t.call(work)
    if json_:
        body: dict[str, Any] = checked.answer.model_dump(mode="json")
        print_json({**body, "verified": checked.ok, "problems": checked.problems})
    elif checked.ok:
        mark = "✓ " if seq is not None or consistency is not None else ""
        out.print(Text.assemble((mark, "bold green"), (project, "bold"), ": " + checked.summary))
    else:
        text = Text.assemble(("✗ ", "bold red"), (project, "bold"), ": proof does NOT verify")
        for problem in checked.problems:
            text.append(f"\n  {problem}")
        out.print(text)
    if not checked.ok:
        raise typer.Exit(TAMPERED)
