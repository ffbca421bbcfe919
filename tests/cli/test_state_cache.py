"""The CLI's state cache (D15): a warm start that never outranks the database."""

from __future__ import annotations

import json
from pathlib import Path

from roundtable.client.state import state_path
from tests.cli.conftest import Cli


def state_file(cli: Cli, agent: str = "alice") -> Path:
    settings = cli.server.settings
    return state_path(settings.data_dir / "state", cli.server.url, "default", agent)


def cached(cli: Cli, agent: str = "alice") -> dict[str, object]:
    data: dict[str, object] = json.loads(state_file(cli, agent).read_text())
    return data


def test_a_started_session_is_used_by_later_commands_until_it_ends(cli: Cli) -> None:
    cli.use("alice", "web")
    session = cli.ok("session", "start").stdout.strip()
    assert cached(cli)["session_id"] == session
    assert state_file(cli).stat().st_mode & 0o777 == 0o600

    result = cli.ok("log", "append", "in the session")
    assert "warning" not in result.stderr
    cli.ok("session", "end", session)
    assert cached(cli)["session_id"] is None
    cli.ok("log", "append", "after it")

    first, second = sorted(cli.entries("web"), key=lambda e: e["seq"])
    assert first["session_id"] == session and second["session_id"] is None


def test_project_use_remembers_project_and_version(cli: Cli) -> None:
    cli.ok("project", "use", "web", "--create")
    assert (cached(cli)["project"], cached(cli)["version"]) == ("web", 1)


def test_a_session_ended_elsewhere_is_forgotten_with_a_warning(cli: Cli) -> None:
    cli.use("alice", "web")
    session = cli.ok("session", "start").stdout.strip()
    cli.api.post(f"/sessions/{session}/end", json={"agent": "alice"}).raise_for_status()

    result = cli.ok("log", "append", "still works")
    assert f"cached session {session} is finished" in result.stderr
    assert cached(cli)["session_id"] is None
    [entry] = cli.entries("web")
    assert entry["session_id"] is None


def test_a_corrupt_file_is_discarded_with_a_warning(cli: Cli) -> None:
    cli.use("alice", "web")
    path = state_file(cli)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"v": 1, "session_id": ')

    result = cli.ok("log", "append", "fine")
    assert "discarding the state cache" in result.stderr and "corrupt" in result.stderr
    assert not path.exists()
    assert len(cli.entries("web")) == 1


def test_a_stale_version_is_replaced_by_the_database(cli: Cli) -> None:
    cli.ok("project", "use", "web", "--create")
    cli.use("alice", "api")  # someone else moved alice on: version 2

    result = cli.ok("log", "append", "where am I?")
    assert "cached context is stale" in result.stderr and "version 2" in result.stderr
    assert (cached(cli)["project"], cached(cli)["version"]) == ("api", 2)
    assert len(cli.entries("api")) == 1 and cli.entries("web") == []


def test_a_project_the_database_no_longer_has_is_forgotten(cli: Cli) -> None:
    context = cli.use("alice", "web")
    session = cli.ok("session", "start").stdout.strip()
    state = cached(cli) | {"project": "vanished", "version": context["version"]}
    state_file(cli).write_text(json.dumps(state))

    result = cli.ok("log", "append", "on web")
    assert "cached project 'vanished' no longer exists" in result.stderr
    assert (cached(cli)["project"], cached(cli)["session_id"]) == ("web", session)


def test_another_agents_file_is_not_trusted(cli: Cli) -> None:
    cli.use("bob", "web")
    cli.ok("session", "start", agent="alice")
    stolen = cached(cli, "alice")
    state_file(cli, "bob").parent.mkdir(parents=True, exist_ok=True)
    state_file(cli, "bob").write_text(json.dumps(stolen))

    result = cli.ok("log", "append", "as bob", agent="bob")
    assert "belongs to another server, namespace or agent" in result.stderr
    [entry] = cli.entries("web")
    assert entry["agent"] == "bob" and entry["session_id"] is None
