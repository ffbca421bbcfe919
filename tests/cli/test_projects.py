"""`roundtable project list|use|show`, including compare-and-set conflicts (exit 4)."""

from __future__ import annotations

import json

from tests.cli.conftest import Cli


def test_use_creates_and_switches_with_versions(cli: Cli) -> None:
    result = cli.ok("project", "use", "web", "--create")
    assert "alice is on project web (context version 1)" in result.stdout
    cli.use("alice", "api")  # someone else moves alice meanwhile (version 2)
    # Without --expect-version the CLI reads the current version and compare-and-sets over it.
    switched = json.loads(cli.ok("project", "use", "web", "--json").stdout)
    assert (switched["project"], switched["version"]) == ("web", 3)
    assert cli.context("alice")["version"] == 3


def test_use_unknown_project_without_create_is_not_found(cli: Cli) -> None:
    result = cli("project", "use", "nowhere")
    assert result.exit_code == 3
    assert "not_found" in result.stderr and "nowhere" in result.stderr
    assert cli.context("alice")["version"] == 0
    assert cli.api.get("/projects").json() == []


def test_expect_version_matching_succeeds(cli: Cli) -> None:
    cli.use("alice", "web")
    result = cli.ok("project", "use", "web", "--expect-version", "1", "--json")
    assert json.loads(result.stdout)["version"] == 2


def test_expect_version_conflict_exits_4_with_the_current_state(cli: Cli) -> None:
    cli.use("alice", "web")
    cli.use("alice", "api")
    result = cli("project", "use", "web", "--expect-version", "1")
    assert result.exit_code == 4
    assert "conflict" in result.stderr
    assert "current_version: 2" in result.stderr and "current_project: api" in result.stderr
    assert result.stdout == ""
    context = cli.context("alice")
    assert (context["project"], context["version"]) == ("api", 2)


def test_bad_project_name_exits_2_and_changes_nothing(cli: Cli) -> None:
    for bad in ("bad name", "../etc", "a/b", ".hidden", ""):
        result = cli("project", "use", bad, "--create")
        assert result.exit_code == 2, (bad, result.stderr)
        assert "invalid" in result.stderr.lower()
    assert cli.api.get("/projects").json() == []
    assert cli.context("alice")["version"] == 0


def test_list_and_show(cli: Cli) -> None:
    assert "no projects yet" in cli.ok("project", "list").stderr
    cli.use("alice", "web")
    cli.use("bob", "api")
    cli.api.post("/projects/web/entries", json={"agent": "alice", "message": "one"})

    table = cli.ok("project", "list").stdout
    assert "web" in table and "api" in table
    listed = json.loads(cli.ok("project", "list", "--json").stdout)
    assert {p["name"]: p["size"] for p in listed} == {"api": 0, "web": 1}

    current = cli.ok("project", "show")  # alice's current project
    assert "web" in current.stdout and "context version 1" in current.stdout
    shown = json.loads(cli.ok("project", "show", "api", "--json").stdout)
    assert (shown["name"], shown["size"], shown["created_by"]) == ("api", 0, "bob")


def test_show_without_a_current_project_explains(cli: Cli) -> None:
    result = cli("project", "show")
    assert result.exit_code == 2
    assert "no current project" in result.stderr and "project use" in result.stderr
