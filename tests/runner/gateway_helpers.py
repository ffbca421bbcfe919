"""Shared pieces of the gateway tests: real upstream servers (subprocesses), a claimed run,
and a fake agent (the official MCP client) talking to the gateway."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx2
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client

from roundtable.runner.protocol import ClaimedRun

SCRIPT = str(Path(__file__).with_name("upstream_server.py"))
SECRET = "s3cr3t-upstream-token-0f9a7c"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def http_upstream(**env: str) -> Iterator[str]:
    """An HTTP MCP server requiring a bearer token; yields its base URL."""
    port = free_port()
    import os

    proc = subprocess.Popen(
        [sys.executable, SCRIPT, "http", str(port)],
        env={**os.environ, "UPSTREAM_TOKEN": SECRET, **env},
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def stdio_entry(name: str = "files", **fields: Any) -> dict[str, Any]:
    return {"name": name, "transport": "stdio", "command": sys.executable,
            "args": [SCRIPT, "stdio"], **fields}  # fmt: skip


def claimed(servers: list[str], registry: list[dict[str, Any]], session: str = "s1",
            run: str = "r1") -> ClaimedRun:  # fmt: skip
    return ClaimedRun.model_validate(
        {
            "id": run,
            "session_id": session,
            "blueprint": {"name": "coder", "executor": {"kind": "script"}, "mcp_servers": servers},
            "run_token": "run-token-not-used",
            "mcp_registry": registry,
        }
    )


@asynccontextmanager
async def agent(url: str, token: str) -> AsyncIterator[Client]:
    """The fake agent: an official MCP client of one gateway endpoint."""
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client
