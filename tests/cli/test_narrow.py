"""Tables stay readable in an 80-column terminal: whole ids, unsplit headers, no line too long."""

from __future__ import annotations

from tests.cli.conftest import Cli

LONG = "Refactored the login form so that the error message is announced to screen readers"


def lines_within(text: str, width: int) -> list[str]:
    lines = text.splitlines()
    assert lines, "no output"
    assert max(len(line) for line in lines) <= width, text
    return lines


def test_lists_at_80_columns(cli: Cli) -> None:
    started = [cli.ok("session", "start", "--json", agent=a).stdout for a in ("alice", "bob")]
    cli.use("alice", "web")
    cli.api.post(
        "/projects/web/entries",
        json={"agent": "alice", "message": LONG, "status": "success", "meta": {"pr": 42}},
    )
    db = {"ROUNDTABLE_DATABASE_URL": cli.server.settings.effective_database_url}

    sessions = cli.ok("session", "list", COLUMNS="80").stdout
    lines_within(sessions, 80)
    for raw in started:
        session_id = raw.split('"id": "')[1].split('"')[0]
        assert session_id in sessions  # whole, so it can be copied
    assert "alice" in sessions and "bob" in sessions and "active" in sessions

    found = cli.ok("log", "query", "--text", "login", COLUMNS="80").stdout
    lines_within(found, 80)
    assert "messa\n" not in found and "alice" in found and "success" in found
    assert "screen readers" in " ".join(found.split())  # the message, whole

    projects = cli.ok("project", "list", COLUMNS="80").stdout
    lines_within(projects, 80)
    assert "web" in projects and "1 entry" in projects

    keys = cli.ok("keys", "list", COLUMNS="80", **db).stdout
    lines_within(keys, 80)
    assert "current" in keys

    # Wide terminals keep the tables, headers and all.
    assert "message" in cli.ok("log", "query", "--text", "login", COLUMNS="200").stdout
    assert "lease until" in cli.ok("session", "list", COLUMNS="200").stdout
