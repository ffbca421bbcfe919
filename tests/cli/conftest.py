"""Fixtures for CLI tests: the real CLI, in-process, pointed at a real server on each backend."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from roundtable.cli.main import app
from tests.live import LiveServer


@dataclass
class Cli:
    """Runs `roundtable ...` in-process with the environment a user on the server's machine has."""

    server: LiveServer
    runner: CliRunner
    api: httpx.Client

    def env(self, **extra: str | None) -> dict[str, str | None]:
        env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("ROUNDTABLE_")}
        env.update(
            ROUNDTABLE_URL=self.server.url,
            ROUNDTABLE_DATA_DIR=str(self.server.settings.data_dir),
            COLUMNS="200",
        )
        env.update(extra)
        return env

    def __call__(self, *args: str, agent: str | None = "alice", **env: str | None) -> Result:
        return self.runner.invoke(app, list(args), env=self.env(ROUNDTABLE_AGENT=agent, **env))

    def ok(self, *args: str, agent: str | None = "alice", **env: str | None) -> Result:
        """Run and insist on success, showing stderr when it fails."""
        result = self(*args, agent=agent, **env)
        assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
        return result

    # Independent checks go through the HTTP API, never through the CLI under test.

    def entries(self, project: str) -> list[dict[str, Any]]:
        response = self.api.get(f"/projects/{project}/entries", params={"limit": 500})
        response.raise_for_status()
        entries: list[dict[str, Any]] = response.json()["entries"]
        return entries

    def context(self, agent: str) -> dict[str, Any]:
        response = self.api.get(f"/agents/{agent}/context")
        response.raise_for_status()
        context: dict[str, Any] = response.json()
        return context

    def use(self, agent: str, project: str) -> dict[str, Any]:
        """Set an agent's project through the API (last write wins), creating the project."""
        response = self.api.put(
            f"/agents/{agent}/context", json={"project": project, "create": True}
        )
        response.raise_for_status()
        context: dict[str, Any] = response.json()
        return context


@pytest.fixture
def cli(live_server: LiveServer) -> Iterator[Cli]:
    with httpx.Client(base_url=live_server.api(), headers=live_server.headers) as api:
        yield Cli(server=live_server, runner=CliRunner(), api=api)
