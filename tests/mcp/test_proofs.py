"""`get_proof` through the official MCP client (stdio and HTTP, both backends)."""

from __future__ import annotations

from roundtable.journal.models import ProofBundle
from tests.journal import independent
from tests.mcp.harness import Connect, fail, ok


async def test_get_proof_answers_verify_and_bad_sizes_are_refused(connect: Connect) -> None:
    async with connect("alice") as client:
        await ok(client, "set_project", {"project": "web", "create": True})
        await ok(client, "append_entry", {"entries": [{"message": f"m{i}"} for i in range(9)]})

        head = ProofBundle.model_validate(await ok(client, "get_proof"))
        assert head.tree.size == 9 and head.inclusion is None and head.consistency is None

        both = ProofBundle.model_validate(
            await ok(client, "get_proof", {"project": "web", "seq": 4, "old_size": 3, "size": 7})
        )
        assert both.tree.size == 7
        inc, cons = both.inclusion, both.consistency
        assert inc is not None and cons is not None
        assert (inc.seq, inc.leaf_index, inc.tree_size, inc.root) == (4, 3, 7, both.tree.root)
        assert independent.verify_inclusion(
            bytes.fromhex(inc.leaf_hash),
            3,
            7,
            [bytes.fromhex(h) for h in inc.path],
            bytes.fromhex(both.tree.root),
        )
        old = ProofBundle.model_validate(await ok(client, "get_proof", {"size": 3}))
        assert (cons.old_size, cons.new_size) == (3, 7)
        assert (cons.old_root, cons.new_root) == (old.tree.root, both.tree.root)
        assert independent.verify_consistency(
            3,
            7,
            bytes.fromhex(cons.old_root),
            bytes.fromhex(cons.new_root),
            [bytes.fromhex(h) for h in cons.path],
        )

        error = await fail(client, "get_proof", {"seq": 8, "size": 7}, "invalid_input")
        assert "entry 8 is not in the tree of size 7" in error["message"]
        error = await fail(client, "get_proof", {"size": 10}, "invalid_input")
        assert "beyond the journal's head: it has 9 entries" in error["message"]
        await fail(client, "get_proof", {"seq": 10}, "not_found")
        await fail(client, "get_proof", {"seq": 0}, "invalid_input")
        await fail(client, "get_proof", {"seq": 2, "size": 0}, "invalid_input")
        error = await fail(client, "get_proof", {"old_size": 8, "size": 5}, "invalid_input")
        assert "old_size=8 is larger than new_size=5" in error["message"]
        await fail(client, "get_proof", {"project": "nope"}, "not_found")
