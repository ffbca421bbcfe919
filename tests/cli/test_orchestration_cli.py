"""`roundtable blueprint ...` and `roundtable agent ...` against a real server, with a real
runner process doing the work."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Cli
from tests.runner import cluster

TEAM = """\
name: greeter
description: says hello back
executor: {kind: echo, config: {text: hello}}
---
name: counter
executor: {kind: echo}
parameters_schema:
  type: object
  properties: {n: {type: integer, minimum: 0}}
  required: [n]
  additionalProperties: false
"""


def test_apply_is_idempotent_and_list_show_delete(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "team.yaml").write_text(TEAM)
    (tmp_path / "team" / "solo.json").write_text(
        json.dumps({"name": "solo", "executor": {"kind": "echo"}})
    )
    first = cli.ok("blueprint", "apply", "-f", str(tmp_path / "team"), "--json")
    applied = json.loads(first.stdout)
    assert [b["name"] for b in applied] == ["solo", "greeter", "counter"]
    assert all(b["changed"] and b["version"] == 1 for b in applied)

    again = cli.ok("blueprint", "apply", "-f", str(tmp_path / "team"))
    assert again.stdout.count("unchanged") == 3

    (tmp_path / "team" / "solo.json").write_text(
        json.dumps({"name": "solo", "executor": {"kind": "echo"}, "tags": ["x"]})
    )
    changed = json.loads(
        cli.ok("blueprint", "apply", "-f", str(tmp_path / "team"), "--json").stdout
    )
    assert [(b["name"], b["changed"], b["version"]) for b in changed] == [
        ("solo", True, 2),
        ("greeter", False, 1),
        ("counter", False, 1),
    ]

    listed = cli.ok("blueprint", "list", COLUMNS="80").stdout
    assert "greeter" in listed and "says hello back" in listed
    assert max(len(line) for line in listed.splitlines()) <= 80
    shown = json.loads(cli.ok("blueprint", "show", "counter").stdout)
    assert shown["parameters_schema"]["required"] == ["n"]

    cli.ok("blueprint", "delete", "solo")
    missing = cli("blueprint", "show", "solo")
    assert missing.exit_code == 3, missing.stderr  # not found


def test_apply_checks_every_file_before_sending_any(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: fine\nexecutor: {kind: echo}\n")
    (tmp_path / "b.yaml").write_text("name: typo\nexecutr: {kind: echo}\n")
    result = cli("blueprint", "apply", "-f", str(tmp_path))
    assert result.exit_code == 2 and "executr" in result.stderr
    assert cli.api.get("/blueprints/fine").status_code == 404


def test_agent_start_status_result_children_delete(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text(TEAM)
    cli.ok("blueprint", "apply", "-f", str(tmp_path / "team.yaml"))
    bad = cli("agent", "start", "counter", "--param", "n=-1", "--param", "extra=1")
    assert bad.exit_code == 2, bad.stderr
    assert "$.n" in bad.stderr or "n" in bad.stderr

    server = cli.server
    with cluster.runners(tmp_path) as group:
        group.start(server.url, server.admin_token, "cli-runner", capacity=2, executors="echo")
        done = cli.ok("agent", "start", "counter", "-p", "n=3", "--mode", "sync", "--wait", "60")
        assert json.loads(done.stdout) == {"echo": {"n": 3}}

        sid = cli.ok("agent", "start", "greeter", "-p", "prompt=hi").stdout.strip()
        result = cli.ok("agent", "result", sid, "--wait", "60")
        assert json.loads(result.stdout) == {"echo": {"prompt": "hi"}}

        status = cli.ok("agent", "status", sid, COLUMNS="80").stdout
        assert sid in status and "greeter" in status and "start" in status
        assert max(len(line) for line in status.splitlines()) <= 80
        assert "no children" in cli.ok("agent", "children", sid).stderr
        waited = cli.ok("agent", "wait", sid, "--timeout", "1", "--json")
        assert json.loads(waited.stdout)["done"] is True

        dry = json.loads(cli.ok("agent", "delete", sid, "--dry-run", "--json").stdout)
        assert dry["session_ids"] == [sid] and not dry["deleted"]
        cli.ok("agent", "delete", sid, "--force")
        assert cli("agent", "status", sid).exit_code == 3
