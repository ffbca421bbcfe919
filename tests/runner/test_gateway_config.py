"""Runner secrets (file permissions, precedence, missing names), the runner-local MCP servers
file, and which env vars an agent process inherits."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from roundtable.errors import InvalidInput
from roundtable.runner.gateway import Gateway, RunnerSecrets
from roundtable.runner.gateway.local import load_local_servers
from roundtable.runner.gateway.secrets import MissingSecret
from tests.runner.gateway_helpers import claimed, stdio_entry
from tests.runner.helpers import context


def test_secrets_file_must_be_private_and_wins_over_env(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({"A": "from-file"}))
    os.chmod(path, 0o644)
    with pytest.raises(InvalidInput, match="chmod 600"):
        RunnerSecrets(env={}, file=path)
    os.chmod(path, 0o600)
    secrets = RunnerSecrets(env={"A": "from-env", "B": "env-only"}, file=path)
    assert (secrets.get("A"), secrets.get("B")) == ("from-file", "env-only")
    with pytest.raises(MissingSecret, match="'C'") as caught:
        secrets.get("C")
    assert "from-" not in str(caught.value)
    path.write_text("[1]")
    with pytest.raises(InvalidInput, match="names to string values"):
        RunnerSecrets(env={}, file=path)


def test_local_servers_file(tmp_path: Path) -> None:
    path = tmp_path / "servers.yaml"
    path.write_text("- {name: files, transport: stdio, command: srv, env: [FILES_KEY]}\n")
    assert load_local_servers(str(path))["files"]["env"] == ["FILES_KEY"]
    path.write_text("- {name: bad, transport: stdio}\n")
    with pytest.raises(InvalidInput, match="#1"):
        load_local_servers(str(path))
    assert load_local_servers(None) == {}


async def test_agent_env_drops_every_secret_name_the_runner_knows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FILES_KEY", "v1")
    monkeypatch.setenv("OTHER_KEY", "v2")
    local = {"other": stdio_entry("other", env=["OTHER_KEY"])}
    async with Gateway(RunnerSecrets(), local_servers=local) as gateway:

        async def progress(batch: list[dict[str, object]]) -> None:
            return None

        run = claimed(["files"], [stdio_entry(env=["FILES_KEY"])])
        async with gateway.open_run(run, progress) as grant:
            ctx, _ = context(run)
            ctx.mcp_urls, ctx.mcp_token = grant.urls, grant.token
            ctx.secret_names = grant.secret_names
            env = ctx.child_env()
    assert "FILES_KEY" not in env and "OTHER_KEY" not in env
    assert json.loads(env["ROUNDTABLE_MCP_URLS"]) == grant.urls
    assert env["ROUNDTABLE_MCP_TOKEN"] == grant.token
