"""`rotate_journal` through the official MCP client, over stdio and Streamable HTTP, on both
backends: it seals the segment, says so truthfully in its hints, and a second call conflicts."""

from __future__ import annotations

from roundtable.config import Settings
from tests.mcp.harness import Connect, fail, ok


async def test_rotate_journal(connect: Connect, settings: Settings) -> None:
    async with connect("alice") as client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
        hints = listed["rotate_journal"].annotations
        assert hints is not None
        assert (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint) == (
            False,
            False,
            False,
        )
        assert {"segment", "archive_sha256", "rotation_seq"} <= set(
            listed["rotate_journal"].output_schema["properties"]  # type: ignore[index]
        )
        await ok(client, "set_project", {"project": "web", "create": True})
        await ok(client, "append_entry", {"entries": [{"message": f"m{i}"} for i in range(5)]})
        sealed = await ok(client, "rotate_journal", {})
        assert (sealed["segment"], sealed["first_seq"], sealed["last_seq"]) == (1, 1, 5)
        assert (settings.data_dir / sealed["archive"]).exists()
        error = await fail(client, "rotate_journal", {"project": "web"}, "conflict")
        assert "nothing to rotate" in error["message"]
        report = await ok(client, "verify_journal", {})
        assert report["ok"] is True
