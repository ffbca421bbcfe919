"""Helpers for driving the real MCP server with the official MCP client.

Two ways in: `roundtable mcp` as a subprocess over stdio (identity from `ROUNDTABLE_AGENT`), and
the Streamable HTTP endpoint `/mcp` of a live `roundtable serve` (identity from a bearer token).
Both hand back a connected `mcp.Client`; `ok` and `fail` unwrap tool results and check that
the text content carries the same JSON as the structured content (on success) or the\nerror's JSON (on failure, with no structured content).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import httpx2
from mcp.client.client import Client
from mcp.client.session import IncomingMessage
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult
from sqlalchemy import Select, Table, inspect, select

from roundtable.config import Settings
from roundtable.journal import text_index
from roundtable.store import tables
from roundtable.store.engine import Database
from tests.live import LiveServer, env_for, roundtable_exe

#: Per-request limit, so a wedged server fails the test instead of hanging it.
TIMEOUT = 60.0

#: The tools every Roundtable MCP server offers, and whether each only reads.
READ_ONLY: dict[str, bool] = {
    "start_session": False,
    "heartbeat": False,
    "end_session": False,
    "set_project": False,
    "get_project": True,
    "list_projects": True,
    "append_entry": False,
    "read_recent": True,
    "query_entries": True,
    "verify_journal": True,
    "get_proof": True,
    "wait_for_events": True,
}

#: Connect as the named agent; the result is an entered `Client`.
Connect = Callable[[str], AbstractAsyncContextManager[Client]]


def stdio_params(settings: Settings, agent: str | None, **env: str) -> StdioServerParameters:
    """`roundtable mcp` on `settings`' data directory and database."""
    extra = dict(env)
    if agent is not None:
        extra["ROUNDTABLE_AGENT"] = agent
    return StdioServerParameters(
        command=roundtable_exe(), args=["mcp"], env=env_for(settings, **extra)
    )


@asynccontextmanager
async def stdio(
    settings: Settings, agent: str | None, stderr: Path, **env: str
) -> AsyncIterator[Client]:
    """A `roundtable mcp` subprocess and a client talking to it; its stderr goes to `stderr`.

    A stdout line that is not JSON-RPC reaches the client as an exception; leaving the block
    fails if there was one, so every stdio test also checks that stdout carries only protocol.
    """
    junk: list[Exception] = []

    async def on_message(message: IncomingMessage) -> None:
        if isinstance(message, Exception):
            junk.append(message)

    with stderr.open("a") as errlog:
        transport = stdio_client(stdio_params(settings, agent, **env), errlog=errlog)
        async with Client(
            transport, read_timeout_seconds=TIMEOUT, message_handler=on_message
        ) as client:
            yield client
            await anyio.lowlevel.checkpoint()  # let a pending delivery run before the check
    assert not junk, f"roundtable mcp wrote non-protocol output to stdout: {junk}"


@asynccontextmanager
async def http(server: LiveServer, token: str) -> AsyncIterator[Client]:
    """A client of the live server's `/mcp` endpoint, authenticated by `token`."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=TIMEOUT) as http_client:
        transport = streamable_http_client(f"{server.url}/mcp", http_client=http_client)
        async with Client(transport, read_timeout_seconds=TIMEOUT) as client:
            yield client


@asynccontextmanager
async def together(*openers: AbstractAsyncContextManager[Client]) -> AsyncIterator[list[Client]]:
    """Open several clients at once (their servers start in parallel) and close them together.

    Each client is entered and left in its own task, as its transport's task groups require;
    calls on it may come from any task.
    """
    clients: list[Client | None] = [None] * len(openers)
    ready = [asyncio.Event() for _ in openers]
    release = asyncio.Event()

    async def hold(index: int, opener: AbstractAsyncContextManager[Client]) -> None:
        async with opener as client:
            clients[index] = client
            ready[index].set()
            await release.wait()

    async with asyncio.TaskGroup() as group:
        for index, opener in enumerate(openers):
            group.create_task(hold(index, opener))
        try:
            await asyncio.gather(*(event.wait() for event in ready))
            yield [client for client in clients if client is not None]
        finally:
            release.set()


def mint_token(server: LiveServer, agent: str, namespace: str = "default") -> str:
    """An agent token from the HTTP API, minted with the admin token."""
    response = httpx.post(
        f"{server.api(namespace)}/tokens", headers=server.headers, json={"agent": agent}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["agent"] == agent and body["namespace"] == namespace
    return str(body["token"])


def _text_json(result: CallToolResult) -> Any:
    assert len(result.content) == 1, result.content
    block = result.content[0]
    assert block.type == "text"
    return json.loads(block.text)


async def ok(client: Client, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    """Call `tool`, insist it succeeded, and return its structured content."""
    result = await client.call_tool(tool, arguments or {})
    assert not result.is_error, f"{tool}({arguments}) failed: {result.content}"
    assert result.structured_content is not None, f"{tool} returned no structured content"
    assert _text_json(result) == result.structured_content
    return dict(result.structured_content)


async def fail(
    client: Client, tool: str, arguments: dict[str, Any] | None, code: str
) -> dict[str, Any]:
    """Call `tool`, insist it failed with the domain error `code`, and return that error."""
    result = await client.call_tool(tool, arguments or {})
    assert result.is_error, f"{tool}({arguments}) unexpectedly succeeded"
    # D17: the error is JSON text only, so clients that check structured content against the
    # tool's output schema (the TypeScript SDK) still hand it to the model.
    assert result.structured_content is None, result.structured_content
    error: dict[str, Any] = _text_json(result)["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    return error


async def all_entries(client: Client, project: str) -> list[dict[str, Any]]:
    """Every entry of `project`, oldest first, following `query_entries` cursors."""
    entries: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        filters: dict[str, Any] = {"projects": [project], "order": "oldest", "limit": 500}
        if cursor is not None:
            filters["cursor"] = cursor
        page = await ok(client, "query_entries", filters)
        entries.extend(page["entries"])
        cursor = page["next_cursor"]
        if cursor is None:
            return entries


Snapshot = dict[str, list[tuple[Any, ...]]]


def _every_row(table: Table) -> Select[Any]:
    """Its rows, but for the full-text index's marker (`journal.text_index`): a text search
    may index the newest entries first, which changes what it reads no more than the FTS5
    tables this does not read either."""
    if table is tables.markers:
        return select(table).where(table.c.name != text_index.MARKER)
    return select(table)


async def snapshot(settings: Settings) -> Snapshot:
    """Every row of every table, read over a separate connection: equal snapshots before and
    after a call prove the call wrote nothing at all (not even a `last_seen` or an event)."""
    db = Database(settings.effective_database_url)
    try:
        async with db.read() as conn:
            # `roundtable mcp` creates its schema on the first call that needs the database.
            present = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
            return {
                table.name: sorted(
                    (tuple(row) for row in await conn.execute(_every_row(table))), key=repr
                )
                for table in tables.metadata.sorted_tables
                if table.name in present
            }
    finally:
        await db.close()
