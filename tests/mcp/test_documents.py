"""The document tools through the official MCP client, over stdio and Streamable HTTP."""

from __future__ import annotations

from tests.mcp.harness import Connect, fail, ok


async def test_document_tools(connect: Connect) -> None:
    async with connect("writer") as client:
        session = await ok(client, "start_session")
        made = await ok(
            client,
            "put_document",
            {"name": "plan", "content": "step one\nstep two\n", "session_id": session["id"]},
        )
        assert (made["lifecycle"], made["root_session"]) == ("temporal", session["id"])
        shared = await ok(
            client,
            "put_document",
            {"name": "guide", "content": "how we work", "scope": "namespace"},
        )
        assert shared["lifecycle"] == "persistent"
        edited = await ok(
            client,
            "edit_document",
            {"document": made["id"], "old": "two", "new": "2", "expected_version": 1},
        )
        assert edited["document"]["version"] == 2 and edited["replaced"] == 1
        conflict = await fail(
            client,
            "edit_document",
            {"document": made["id"], "offset": 0, "new": "x", "expected_version": 1},
            "conflict",
        )
        assert conflict["data"]["current_version"] == 2
        await fail(client, "edit_document", {"document": made["id"]}, "invalid_input")
        await fail(client, "edit_document", {"document": made["id"], "olt": "x"}, "invalid_input")
        part = await ok(client, "get_document", {"document": made["id"], "offset": 5, "limit": 3})
        assert (part["content"], part["length"], part["truncated"]) == ("one", 16, True)
        hits = await ok(client, "search_documents", {"query": "step"})
        assert [h["document"]["id"] for h in hits["hits"]] == [made["id"]]
        linked = await ok(
            client,
            "relate_documents",
            {"document": shared["id"], "other": made["id"], "kind": "parent-child"},
        )
        assert [(r["role"], r["other"]) for r in linked["relations"]] == [("child", made["id"])]
        gone = await ok(client, "delete_document", {"document": shared["id"]})
        assert set(gone["deleted"]) == {shared["id"], made["id"]}
        listed = await ok(client, "list_documents")
        assert listed["documents"] == []
