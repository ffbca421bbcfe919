"""`roundtable log append|tail|query`: output, defaults, and bad input that writes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.cli.conftest import Cli


def seed(cli: Cli, project: str, *entries: dict[str, object], agent: str = "alice") -> None:
    cli.use(agent, project)
    for entry in entries:
        response = cli.api.post(f"/projects/{project}/entries", json={"agent": agent, **entry})
        response.raise_for_status()


def test_append_to_the_current_project(cli: Cli) -> None:
    cli.use("alice", "web")
    result = cli.ok(
        "log", "append", "Fixed the [red] flaky test", "--status", "success",
        "--kind", "decision", "--meta", '{"pr": 42}',
    )  # fmt: skip
    assert "web #1" in result.stdout and "Fixed the [red] flaky test" in result.stdout
    assert "success" in result.stdout and '{"pr":42}' in result.stdout
    [entry] = cli.entries("web")
    assert entry["agent"] == "alice" and entry["message"] == "Fixed the [red] flaky test"
    assert (entry["status"], entry["kind"], entry["meta"]) == ("success", "decision", {"pr": 42})


def test_append_json_with_project_and_session(cli: Cli) -> None:
    cli.use("alice", "web")
    cli.use("bob", "api")
    session = cli.ok("session", "start").stdout.strip()
    result = cli.ok("log", "append", "to api", "--project", "api", "--session", session, "--json")
    appended = json.loads(result.stdout)
    assert (appended["project"], appended["first_seq"], appended["last_seq"]) == ("api", 1, 1)
    assert appended["entries"][0]["session_id"] == session
    assert cli.entries("web") == []


def test_append_in_an_ended_session_exits_5(cli: Cli) -> None:
    cli.use("alice", "web")
    session = cli.ok("session", "start").stdout.strip()
    cli.ok("session", "end", session)
    result = cli("log", "append", "too late", "--session", session)
    assert result.exit_code == 5 and "lease_expired" in result.stderr
    assert cli.entries("web") == []


def test_append_without_a_current_project_explains(cli: Cli) -> None:
    result = cli("log", "append", "hello")
    assert result.exit_code == 2
    assert "no current project" in result.stderr and "--project" in result.stderr


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["", "--project", "web"], "message must be a non-empty string"),
        (["   ", "--project", "web"], "message must be a non-empty string"),
        (["m", "--meta", "{not json"], "meta is not valid JSON"),
        (["m", "--meta", "[1, 2]"], "meta must be a JSON object"),
        (["m", "--meta", '"text"'], "meta must be a JSON object"),
        (["m", "--status", "great"], "'great' is not one of"),
        (["m", "--kind", "Not A Kind"], "invalid kind"),
        (["m", "--project", "bad name"], "invalid project 'bad name'"),
        (["m", "--project", "a/b"], "invalid project 'a/b'"),
        (["m", "--project", "nowhere"], None),  # not found: exit 3, checked below
    ],
)
def test_bad_append_is_refused_and_writes_nothing(
    cli: Cli, args: list[str], complaint: str | None
) -> None:
    cli.use("alice", "web")
    result = cli("log", "append", *args)
    if complaint is None:
        assert result.exit_code == 3 and "not_found" in result.stderr
    else:
        assert result.exit_code == 2, result.stderr
        assert complaint in " ".join(result.stderr.split())
    assert result.stdout == ""
    assert cli.entries("web") == []
    assert [p["name"] for p in cli.api.get("/projects").json()] == ["web"]


def test_append_before_anything_exists_is_not_found(cli: Cli) -> None:
    # A fresh server: no namespace row yet. This was a 500 (the agents row's foreign key).
    result = cli("log", "append", "first words", "--project", "web")
    assert result.exit_code == 3 and "not_found" in result.stderr, result.stderr
    result = cli("log", "append", "elsewhere", "--project", "web", "--namespace", "fresh")
    assert result.exit_code == 3 and "not_found" in result.stderr, result.stderr


def test_tail_shows_the_newest_oldest_first(cli: Cli) -> None:
    seed(cli, "web", *({"message": f"step {i}"} for i in range(1, 8)))
    result = cli.ok("log", "tail", "--limit", "3")
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3
    assert [line.split()[0] for line in lines] == ["#5", "#6", "#7"]
    assert lines[-1].endswith("step 7")

    rows = [json.loads(line) for line in cli.ok("log", "tail", "--json").stdout.splitlines()]
    assert [r["seq"] for r in rows] == list(range(1, 8))


def test_tail_of_an_empty_project_says_so(cli: Cli) -> None:
    cli.use("alice", "web")
    result = cli.ok("log", "tail", "--project", "web")
    assert result.stdout == "" and "no entries yet" in result.stderr


def test_query_filters(cli: Cli) -> None:
    seed(
        cli,
        "web",
        {"message": "build passed", "status": "success", "meta": {"commit": "abc", "pr": 42}},
        {"message": "flaky test in login", "status": "warn", "kind": "test"},
        {"message": "build failed", "status": "error", "meta": {"commit": "def"}},
    )
    seed(cli, "api", {"message": "build passed on api", "status": "success"}, agent="bob")

    def seqs(*args: str) -> list[tuple[str, int]]:
        found = json.loads(cli.ok("log", "query", "--json", *args).stdout)
        return [(e["project"], e["seq"]) for e in found]

    assert seqs("--text", "build") == [("api", 1), ("web", 3), ("web", 1)]
    assert seqs("--text", "build", "--oldest") == [("web", 1), ("web", 3), ("api", 1)]
    assert seqs("--text", "build", "--project", "web") == [("web", 3), ("web", 1)]
    assert seqs("--status", "success", "--status", "error") == [("api", 1), ("web", 3), ("web", 1)]
    assert seqs("--regex", r"^build (passed|failed)$") == [("web", 3), ("web", 1)]
    assert seqs("--kind", "test") == [("web", 2)]
    assert seqs("--agent", "bob") == [("api", 1)]
    assert seqs("--meta", "commit=abc") == [("web", 1)]
    assert seqs("--meta", "pr=42", "--meta", "commit=abc") == [("web", 1)]
    assert seqs("--meta", 'pr="42"') == []  # a JSON string is not the number 42
    assert seqs("--limit", "2") == [("api", 1), ("web", 3)]
    assert seqs("--since", "1h") == seqs()
    assert seqs("--until", "1h") == []
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert seqs("--since", later) == []

    table = cli.ok("log", "query", "--text", "flaky")
    assert "flaky test in login" in table.stdout and "warn" in table.stdout


def test_query_pages_past_one_server_page(cli: Cli) -> None:
    cli.use("alice", "web")
    batch = [{"message": f"entry {i}"} for i in range(250)]
    cli.api.post("/projects/web/entries", json={"agent": "alice", "entries": batch})
    found = json.loads(cli.ok("log", "query", "--json", "--limit", "240").stdout)
    assert [e["seq"] for e in found] == list(range(250, 10, -1))
    result = cli.ok("log", "query", "--json", "--limit", "250")
    assert len(json.loads(result.stdout)) == 250 and "more may match" not in result.stderr
    assert "more may match" in cli.ok("log", "query", "--json", "--limit", "249").stderr


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--meta", "novalue"], "use key=value"),
        (["--meta", "k=[1]"], "must be a string, number, boolean or null"),
        (["--since", "yesterday-ish"], "neither an ISO 8601 time nor a duration"),
        (["--regex", "("], "invalid regex"),
        (["--status", "fine"], "'fine' is not one of"),
        (["--project", "bad name"], "invalid project"),
    ],
)
def test_bad_query_input_exits_2(cli: Cli, args: list[str], complaint: str) -> None:
    result = cli("log", "query", *args)
    assert result.exit_code == 2, result.stderr
    assert complaint in " ".join(result.stderr.split())
