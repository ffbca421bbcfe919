"""The `connect` fixture: the same MCP tests over stdio and over Streamable HTTP, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from mcp import Client
from roundtable.config import Settings
from tests.live import LiveServer
from tests.mcp import harness


@pytest.fixture
def stderr_log(tmp_path: Path) -> Iterator[Path]:
    """Where `roundtable mcp` subprocesses write stderr; shown when a test fails."""
    path = tmp_path / "mcp-stderr.log"
    path.touch()
    yield path
    text = path.read_text()
    if text:
        print(f"--- roundtable mcp stderr ---\n{text}")


@pytest.fixture(params=["stdio", "http"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def connect(
    transport: str, settings: Settings, stderr_log: Path, request: pytest.FixtureRequest
) -> harness.Connect:
    """Connect as an agent: `roundtable mcp` with ROUNDTABLE_AGENT, or /mcp with its token."""
    if transport == "stdio":

        def over_stdio(agent: str) -> AbstractAsyncContextManager[Client]:
            return harness.stdio(settings, agent, stderr_log)

        return over_stdio

    server: LiveServer = request.getfixturevalue("live_server")
    tokens: dict[str, str] = {}

    def over_http(agent: str) -> AbstractAsyncContextManager[Client]:
        if agent not in tokens:
            tokens[agent] = harness.mint_token(server, agent)
        return harness.http(server, tokens[agent])

    return over_http
