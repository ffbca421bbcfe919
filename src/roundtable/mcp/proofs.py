"""`get_proof`: one tree head and the proofs asked for, all against that same tree size."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from pydantic import Field

from roundtable.journal.models import ProofBundle
from roundtable.mcp.common import (
    READ,
    AgentArg,
    McpState,
    NamespaceArg,
    ProjectArg,
    _caller,
    _project,
    add_tool,
    domain_errors,
)

if TYPE_CHECKING:
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


def register(server: MCPServer[McpState]) -> None:
    """Add `get_proof` to `server`."""

    @domain_errors
    async def get_proof(
        ctx: Context,
        project: ProjectArg = None,
        seq: Annotated[int | None, Field(description="Prove this entry is included.")] = None,
        old_size: Annotated[
            int | None, Field(description="Prove the tree of this size is a prefix.")
        ] = None,
        size: Annotated[int | None, Field(description="Tree size; default the head.")] = None,
        agent: AgentArg = None,
        namespace: NamespaceArg = None,
    ) -> ProofBundle:
        """Merkle tree head (RFC 9162) at size, with an inclusion proof for seq and/or a
        consistency proof from old_size."""
        c = await _caller(ctx, agent, namespace)
        name = await _project(c, project)
        return await proof_bundle(c.core, c.namespace, name, seq, old_size, size)

    add_tool(server, get_proof, "Get Merkle proof", READ)
