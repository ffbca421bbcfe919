"""`roundtable schema register|list|show|delete` against a real server."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Cli


def test_register_list_show_delete(cli: Cli, tmp_path: Path) -> None:
    first = tmp_path / "card.json"
    first.write_text(json.dumps({"type": "object", "required": ["title"]}))
    second = tmp_path / "card.yaml"
    second.write_text("type: object\nrequired: [title, tags]\n")
    made = json.loads(cli.ok("schema", "register", "card", str(first), "--json").stdout)
    assert made["ref"] == "card@1" and made["created"] is True
    assert "unchanged card@1" in cli.ok("schema", "register", "card", str(first)).stdout
    assert "registered card@2" in cli.ok("schema", "register", "card", str(second)).stdout
    listed = json.loads(cli.ok("schema", "list", "--json").stdout)
    assert [(s["name"], s["versions"]) for s in listed] == [("card", [1, 2])]
    shown = json.loads(cli.ok("schema", "show", "card@1").stdout)
    assert shown["schema"] == {"type": "object", "required": ["title"]}
    assert json.loads(cli.ok("schema", "show", "card").stdout)["version"] == 2
    cli.ok("schema", "delete", "card@1")
    assert cli.api.get("/schemas/card@1").status_code == 404


def test_bad_schema_and_bad_file_exit_2_and_write_nothing(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"type": "objekt"}))
    result = cli("schema", "register", "card", str(bad))
    assert result.exit_code == 2 and "$.type" in result.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    result = cli("schema", "register", "card", str(broken))
    assert result.exit_code == 2 and "not valid JSON" in result.stderr
    assert cli("schema", "show", "card").exit_code == 3
    assert cli.api.get("/schemas").json() == {"schemas": []}


def test_mcp_server_add_list_show_remove(cli: Cli) -> None:
    """`roundtable mcp-server`: secret names in, secret names out; bad input exits 2."""
    made = cli.ok(
        "mcp-server", "add", "gh", "--http", "https://mcp.example.test/mcp",
        "--auth", "bearer", "--secret", "GH_TOKEN", "--deny", "delete_*", "--json",
    )  # fmt: skip
    assert json.loads(made.stdout)["auth"] == {**json.loads(made.stdout)["auth"], "kind": "bearer"}
    assert "unchanged gh v1" in cli.ok(
        "mcp-server", "add", "gh", "--http", "https://mcp.example.test/mcp",
        "--auth", "bearer", "--secret", "GH_TOKEN", "--deny", "delete_*",
    ).stdout  # fmt: skip
    cli.ok("mcp-server", "add", "fs", "--stdio", "python", "--arg", "-m", "--arg", "fs",
           "--env", "FS_KEY")  # fmt: skip
    listed = json.loads(cli.ok("mcp-server", "list", "--json").stdout)
    assert [s["name"] for s in listed] == ["fs", "gh"]
    shown = json.loads(cli.ok("mcp-server", "show", "fs").stdout)
    assert shown["args"] == ["-m", "fs"] and shown["env"] == ["FS_KEY"]
    assert (
        cli("mcp-server", "add", "x", "--http", "https://h.test/", "--auth", "bearer").exit_code
        == 2
    )
    assert cli("mcp-server", "add", "x").exit_code == 2
    cli.ok("mcp-server", "remove", "fs")
    assert cli("mcp-server", "show", "fs").exit_code == 3
