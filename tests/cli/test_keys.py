"""`roundtable keys` (list, export, rotate) and `roundtable checkpoint`, against a real server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from typer.testing import CliRunner

from roundtable.config import Settings
from roundtable.journal import notes
from tests import live
from tests.cli.conftest import Cli


@pytest.fixture
def cli(settings: Settings) -> Iterator[Cli]:
    """A server whose sweeper runs often, so it follows a key rotation quickly."""
    tuned = settings.model_copy(update={"sweep_interval_seconds": 0.1})
    with (
        live.in_thread(tuned) as server,
        httpx.Client(base_url=server.api(), headers=server.headers) as api,
    ):
        yield Cli(server=server, runner=CliRunner(), api=api)


def db_env(cli: Cli) -> dict[str, str | None]:
    return {"ROUNDTABLE_DATABASE_URL": cli.server.settings.effective_database_url}


def test_keys_list_export_rotate(cli: Cli) -> None:
    env = db_env(cli)
    listed = json.loads(cli.ok("keys", "--json", **env).stdout)
    assert len(listed) == 1 and listed[0]["status"].startswith("current")
    old = listed[0]["kid"]
    table = cli.ok("keys", **env).stdout
    assert old in table and "current" in table

    jwks = json.loads(cli.ok("keys", "export", **env).stdout)
    assert [k["kid"] for k in jwks["keys"]] == [old]
    assert jwks == cli.api.get(f"{cli.server.url}/.well-known/jwks.json").json()
    (vkey,) = cli.ok("keys", "export", "--note", **env).stdout.split()
    assert notes.NoteVerifier.parse(vkey).name == cli.server.settings.log_origin

    cli.use("alice", "web")
    cli.api.post("/projects/web/entries", json={"agent": "alice", "message": "before"})
    before = json.loads(cli.ok("checkpoint", "web", "--sign", "--json").stdout)
    assert before["key_id"] == old and before["size"] == 1

    rotated = json.loads(cli.ok("keys", "rotate", "--json", **env).stdout)
    assert rotated["retired"] == old and rotated["current"] != old
    listed = {k["kid"]: k for k in json.loads(cli.ok("keys", "--json", **env).stdout)}
    assert listed[old]["retired_at"] and listed[old]["status"].startswith("retired")
    assert listed[rotated["current"]]["status"].startswith("current")

    # The running server follows the rotation at its next sweep; poll for it.
    cli.api.post("/projects/web/entries", json={"agent": "alice", "message": "after"})
    after: dict[str, object] = {}
    for _ in range(200):
        after = json.loads(cli.ok("checkpoint", "web", "--sign", "--json").stdout)
        if after["key_id"] == rotated["current"]:
            break
        time.sleep(0.05)
    assert after["key_id"] == rotated["current"]

    history = json.loads(cli.ok("checkpoint", "web", "--all", "--json").stdout)
    assert {c["key_id"] for c in history} >= {old, rotated["current"]}
    shown = cli.ok("checkpoint", "web").stdout
    assert f"{cli.server.settings.log_origin}/default/web" in shown and "— " in shown
    report = json.loads(cli.ok("verify", "web", "--json").stdout)
    assert report["ok"] and report["checkpoints_checked"] == len(history)
    jwks = cli.api.get(f"{cli.server.url}/.well-known/jwks.json").json()
    assert {k["kid"] for k in jwks["keys"]} == {old, rotated["current"]}


def test_checkpoint_of_unknown_project_exits_3(cli: Cli) -> None:
    result = cli("checkpoint", "nowhere")
    assert result.exit_code == 3 and "not_found" in result.stderr
