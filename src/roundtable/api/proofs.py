"""HTTP: a journal's Merkle tree head and RFC 9162 inclusion and consistency proofs (read-only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from roundtable.api.deps import Caller, Core
from roundtable.journal.models import ConsistencyProof, InclusionProof, TreeHead

router = APIRouter(prefix="/api/v1/namespaces/{namespace}/projects/{project}", tags=["audit"])


@router.get("/tree")
async def tree_head(
    namespace: str,
    project: str,
    core: Core,
    caller: Caller,
    size: Annotated[int | None, Query(description="Tree size; default the head.")] = None,
) -> TreeHead:
    """The Merkle tree root over the first `size` entries (default: all of them)."""
    ns = caller.namespace_for(namespace, core.settings.namespace)
    return await core.journal.tree_head(ns, project, size)


@router.get("/proofs/inclusion")
async def inclusion_proof(
    namespace: str,
    project: str,
    core: Core,
    caller: Caller,
    seq: Annotated[int, Query(description="The entry to prove.")],
    size: Annotated[int | None, Query(description="Tree size; default the head.")] = None,
) -> InclusionProof:
    """The audit path proving entry `seq` is in the tree of `size` entries (RFC 9162 §2.1.3)."""
    ns = caller.namespace_for(namespace, core.settings.namespace)
    return await core.journal.inclusion_proof(ns, project, seq, size)


@router.get("/proofs/consistency")
async def consistency_proof(
    namespace: str,
    project: str,
    core: Core,
    caller: Caller,
    old: Annotated[int, Query(description="The older tree size.")],
    new: Annotated[int | None, Query(description="The newer tree size; default the head.")] = None,
) -> ConsistencyProof:
    """The proof that the tree of `old` entries is a prefix of the tree of `new` (RFC 9162 §2.1.4)."""
    ns = caller.namespace_for(namespace, core.settings.namespace)
    return await core.journal.consistency_proof(ns, project, old, new)
