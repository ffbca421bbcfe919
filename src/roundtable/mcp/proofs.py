"""`get_proof`: one tree head and the proofs asked for, all against that same tree size."""

from __future__ import annotations

from roundtable.journal.models import ProofBundle
from roundtable.runtime import Roundtable


async def proof_bundle(
    core: Roundtable,
    namespace: str,
    project: str,
    seq: int | None,
    old_size: int | None,
    size: int | None,
) -> ProofBundle:
    """The head is read first and its size pinned, so appends racing this call cannot make the
    proofs and the root disagree."""
    head = await core.journal.tree_head(namespace, project, size)
    inclusion = (
        await core.journal.inclusion_proof(namespace, project, seq, head.size)
        if seq is not None
        else None
    )
    consistency = (
        await core.journal.consistency_proof(namespace, project, old_size, head.size)
        if old_size is not None
        else None
    )
    return ProofBundle(tree=head, inclusion=inclusion, consistency=consistency)
