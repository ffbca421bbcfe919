"""Resources over both transports: a journal's recent entries and its latest checkpoint."""

from __future__ import annotations

import json

import pytest
from mcp.shared.exceptions import MCPError

from tests.mcp.harness import Connect, ok


async def test_journal_resources(connect: Connect) -> None:
    async with connect("alice") as client:
        templates = {
            t.uri_template: t for t in (await client.list_resource_templates()).resource_templates
        }
        assert set(templates) == {
            "roundtable://journal/{project}/recent",
            "roundtable://journal/{project}/checkpoint",
        }
        assert all(t.mime_type == "application/json" for t in templates.values())

        await ok(client, "set_project", {"project": "web", "create": True})
        # An empty journal has no checkpoint yet (the first append signs one).
        with pytest.raises(MCPError) as missing:
            await client.read_resource("roundtable://journal/web/checkpoint")
        assert missing.value.error.code == -32002
        assert missing.value.error.data["error"]["code"] == "not_found"  # type: ignore[index]

        for n in range(3):
            await ok(client, "append_entry", {"message": f"step {n}"})
        recent = await client.read_resource("roundtable://journal/web/recent")
        page = json.loads(recent.contents[0].text)  # type: ignore[union-attr]
        assert [e["message"] for e in page["entries"]] == ["step 2", "step 1", "step 0"]
        first = await client.read_resource("roundtable://journal/web/checkpoint")
        assert json.loads(first.contents[0].text)["size"] >= 1  # type: ignore[union-attr]

        sealed = await ok(client, "rotate_journal", {})
        found = await client.read_resource("roundtable://journal/web/checkpoint")
        checkpoint = json.loads(found.contents[0].text)  # type: ignore[union-attr]
        assert checkpoint["project"] == "web"
        assert checkpoint["size"] == sealed["checkpoint_size"]
        assert checkpoint["note"].startswith("roundtable")

        with pytest.raises(MCPError) as nowhere:
            await client.read_resource("roundtable://journal/nowhere/recent")
        assert nowhere.value.error.data["error"]["code"] == "not_found"  # type: ignore[index]
