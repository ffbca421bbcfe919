"""`roundtable session start|end|list` against a live server."""

from __future__ import annotations

import json

from tests.cli.conftest import Cli


def test_start_prints_the_session_id_and_list_shows_it(cli: Cli) -> None:
    started = cli.ok("session", "start", "--meta", '{"task": "refactor"}')
    session_id = started.stdout.strip()
    listed = cli.api.get("/sessions", params={"agent": "alice"}).json()
    assert [s["id"] for s in listed] == [session_id]
    assert listed[0]["status"] == "active" and listed[0]["metadata"] == {"task": "refactor"}
    assert "lease until" in started.stderr

    table = cli.ok("session", "list")
    assert session_id in table.stdout and "alice" in table.stdout and "active" in table.stdout
    rows = json.loads(cli.ok("session", "list", "--agent", "alice", "--json").stdout)
    assert [r["id"] for r in rows] == [session_id]
    assert json.loads(cli.ok("session", "list", "--agent", "bob", "--json").stdout) == []


def test_start_json_and_child_session(cli: Cli) -> None:
    parent = json.loads(cli.ok("session", "start", "--json").stdout)
    child = json.loads(cli.ok("session", "start", "--parent", parent["id"], "--json").stdout)
    assert child["parent_id"] == parent["id"] and child["root_id"] == parent["id"]


def test_end_by_id_and_by_default(cli: Cli) -> None:
    first = cli.ok("session", "start").stdout.strip()
    ended = json.loads(cli.ok("session", "end", first, "--status", "failed", "--json").stdout)
    assert ended["status"] == "failed"
    # Ending it again: the lease is over, which has its own exit code (5).
    again = cli("session", "end", first)
    assert again.exit_code == 5 and "lease_expired" in again.stderr

    second = cli.ok("session", "start").stdout.strip()
    shown = cli.ok("session", "end")  # the agent's only active session
    assert second in shown.stdout and "finished" in shown.stdout
    statuses = {s["id"]: s["status"] for s in cli.api.get("/sessions").json()}
    assert statuses == {first: "failed", second: "finished"}


def test_end_without_id_is_refused_when_ambiguous(cli: Cli) -> None:
    a = cli.ok("session", "start").stdout.strip()
    b = cli.ok("session", "start").stdout.strip()
    result = cli("session", "end")
    assert result.exit_code == 2
    assert "2 active sessions" in result.stderr and a in result.stderr and b in result.stderr
    assert {s["status"] for s in cli.api.get("/sessions").json()} == {"active"}


def test_start_with_bad_metadata_writes_nothing(cli: Cli) -> None:
    for bad in ("not json", "[1, 2]"):
        result = cli("session", "start", "--meta", bad)
        assert result.exit_code == 2, result.stderr
        assert "invalid_input" in result.stderr and "meta" in result.stderr
        assert result.stdout == ""
    assert cli.api.get("/sessions").json() == []


def test_admin_token_needs_an_agent(cli: Cli) -> None:
    result = cli("session", "start", agent=None)
    assert result.exit_code == 2
    assert "name the agent" in result.stderr
    assert cli.api.get("/sessions").json() == []
