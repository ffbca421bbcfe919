"""`roundtable token create`: a locally minted JWT that the server and JWKS both accept."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import jwt
import pytest
from typer.testing import CliRunner

from roundtable.auth.keys import SigningKey
from roundtable.cli.main import app
from tests.cli.conftest import Cli


def mint(cli: Cli, *args: str) -> str:
    result = cli.ok("token", "create", *args, agent=None)
    assert "token for agent" in result.stderr  # the human note goes to stderr, not stdout
    token = result.stdout.strip()
    assert token.count(".") == 2 and "\n" not in token
    return token


def test_token_verifies_against_the_published_jwks(cli: Cli) -> None:
    token = mint(cli, "--agent", "bob", "--ttl", "2h")
    jwks = httpx.get(f"{cli.server.url}/.well-known/jwks.json").json()
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWKSet.from_dict(jwks)[kid]
    claims = jwt.decode(
        token, key.key, algorithms=["EdDSA"], audience="roundtable", issuer="roundtable"
    )
    assert (claims["sub"], claims["ns"]) == ("bob", "default")
    assert claims["exp"] - claims["iat"] == 2 * 3600


def test_server_accepts_the_token_as_its_agent(cli: Cli) -> None:
    token = mint(cli, "--agent", "bob")
    bearer = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=cli.server.api(), headers=bearer) as api:
        session = api.post("/sessions", json={})
        assert session.status_code == 201 and session.json()["agent"] == "bob"
        context = api.put("/agents/bob/context", json={"project": "web", "create": True})
        assert context.status_code == 200
        assert api.get("/agents/alice/context").status_code == 403  # only its own agent
        assert api.post("/tokens", json={"agent": "eve"}).status_code == 403  # not admin


def test_cli_acts_as_the_tokens_agent(cli: Cli) -> None:
    token = mint(cli, "--agent", "bob", "--ttl", "1d")
    cli.ok("project", "use", "web", "--create", agent=None, ROUNDTABLE_TOKEN=token)
    cli.ok("log", "append", "as bob", agent=None, ROUNDTABLE_TOKEN=token)
    [entry] = cli.entries("web")
    assert (entry["agent"], entry["message"]) == ("bob", "as bob")
    # --token on the command line works the same, and cannot impersonate another agent.
    denied = cli("log", "append", "as alice", "--token", token, "--project", "web", agent="alice")
    assert denied.exit_code == 6 and "permission_denied" in denied.stderr
    assert len(cli.entries("web")) == 1


def test_namespace_comes_from_the_token(cli: Cli) -> None:
    issued = mint(cli, "--agent", "bob", "--namespace", "team-a")
    assert jwt.decode(issued, options={"verify_signature": False})["ns"] == "team-a"
    cli.ok("project", "use", "web", "--create", agent=None, ROUNDTABLE_TOKEN=issued)
    assert cli.api.get("/projects").json() == []  # nothing in `default`
    in_team = cli.api.get(f"{cli.server.api('team-a')}/projects").json()
    assert [p["name"] for p in in_team] == ["web"]


def test_default_ttl_and_json_output(cli: Cli) -> None:
    result = cli.ok("token", "create", "--agent", "bob", "--json", agent=None)
    issued = json.loads(result.stdout)
    assert (issued["agent"], issued["namespace"], issued["ttl_seconds"]) == ("bob", "default", 3600)
    claims = jwt.decode(issued["token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 3600


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--agent", "bob", "--ttl", "10x"], "not a duration"),
        (["--agent", "bob", "--ttl", "0m"], "must be positive"),
        (["--agent", "bob", "--ttl", "30s"], "--ttl: Input should be greater than or equal to 60"),
        (["--agent", "bob", "--ttl", "400d"], "--ttl: Input should be less than or equal to"),
        (["--agent", "not an agent"], "invalid agent"),
        (["--agent", "bob", "--namespace", "Team A"], "invalid namespace"),
    ],
)
def test_bad_token_requests_exit_2(cli: Cli, args: list[str], complaint: str) -> None:
    result = cli("token", "create", *args, agent=None)
    assert result.exit_code == 2, result.stderr
    assert complaint in " ".join(result.stderr.split())
    assert result.stdout == ""


def test_a_bad_token_is_unauthenticated(cli: Cli) -> None:
    result = cli("project", "list", ROUNDTABLE_TOKEN="not-a-token")
    assert result.exit_code == 6 and "unauthenticated" in result.stderr


def test_minting_in_a_fresh_data_directory_warns_and_creates_the_key(tmp_path: Path) -> None:
    data = tmp_path / "elsewhere"
    result = CliRunner().invoke(
        app, ["token", "create", "--agent", "bob"], env={"ROUNDTABLE_DATA_DIR": str(data)}
    )
    assert result.exit_code == 0, result.stderr
    assert "created a new signing key" in " ".join(result.stderr.split())
    key = SigningKey.load_or_create(data)  # the key the token was signed with, now on disk
    claims = jwt.decode(
        result.stdout.strip(), key.public, algorithms=["EdDSA"], audience="roundtable"
    )
    assert claims["sub"] == "bob"
