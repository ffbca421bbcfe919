"""`roundtable doc ...` against a real server; a scoped token from `token create --scope`."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Cli


def test_doc_commands_round_trip(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "notes.md"
    source.write_text("hello shared world\n")
    made = json.loads(cli.ok("doc", "put", "notes", str(source), "--tag", "howto", "--json").stdout)
    assert (made["lifecycle"], made["scope"], made["created_origin"]) == (
        "persistent",
        "namespace",
        "person",
    )
    assert made["length"] == 19, made
    assert cli.ok("doc", "get", "notes").stdout == "hello shared world\n"
    assert cli.ok("doc", "get", "notes", "--offset", "6", "--limit", "6").stdout == "shared\n"
    edited = cli.ok("doc", "edit", "notes", "--old", "world", "--new", "team", "--expect", "1")
    assert "now v2" in edited.stdout
    stale = cli("doc", "edit", "notes", "--old", "team", "--new", "x", "--expect", "1")
    assert stale.exit_code == 4 and "current_version: 2" in stale.stderr
    listed = cli.ok("doc", "ls", "--tag", "howto").stdout.splitlines()
    assert len(listed) == 1 and " notes " in listed[0] and max(map(len, listed)) <= 80
    found = cli.ok("doc", "search", "shared").stdout
    assert "[shared]" in found
    assert cli.ok("doc", "search", "absent").stdout == ""


def test_scoped_token_puts_temporal_tree_documents(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "draft.md"
    source.write_text("tree text")
    root = cli.api.post("/sessions", json={"agent": "lead"}).json()["id"]
    token = cli.ok(
        "token",
        "create",
        "--agent",
        "worker",
        "--scope",
        f"root_session={root}",
        "--perms",
        "documents:read,documents:write",
    ).stdout.strip()
    made = json.loads(
        cli.ok("doc", "put", "draft", str(source), "--json", ROUNDTABLE_TOKEN=token).stdout
    )
    assert (made["lifecycle"], made["root_session"], made["created_by"]) == (
        "temporal",
        root,
        "worker",
    )
    promoted = json.loads(cli.ok("doc", "promote", made["id"], "--json").stdout)
    assert promoted["lifecycle"] == "persistent" and promoted["version"] == 2
    assert (
        json.loads(cli.ok("doc", "demote", made["id"], "--json").stdout)["lifecycle"] == "temporal"
    )
    bad = cli("token", "create", "--agent", "w", "--perms", "everything")
    assert bad.exit_code == 2 and "area:action" in bad.stderr
    bad = cli("token", "create", "--agent", "w", "--scope", "tree=1")
    assert bad.exit_code == 2 and "root_session=" in bad.stderr
    ro = cli.ok("token", "create", "--agent", "r", "--perms", "documents:read").stdout.strip()
    refused = cli("doc", "rm", made["id"], ROUNDTABLE_TOKEN=ro)
    assert refused.exit_code == 6 and "documents:write" in refused.stderr
    assert "deleted 1" in cli.ok("doc", "rm", made["id"]).stdout
