"""One database whatever environment the MCP client passes (issue 14).

Clients such as MCP Inspector and Codex start stdio servers with a minimal environment (no
`XDG_DATA_HOME`). Each test here starts `roundtable mcp` with nothing in its environment but
`PATH` and `ROUNDTABLE_AGENT` next to a running server: with `--url` it is a bridge whose
writes land in the server's database; without, it says on stderr which database it opened.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from roundtable.config import Settings
from roundtable.runtime import Roundtable
from tests.live import LiveServer, roundtable_exe
from tests.mcp.harness import mint_token
from tests.mcp.test_stdio import RawStdio

MINIMAL = {"PATH": os.environ["PATH"], "ROUNDTABLE_AGENT": "alice"}
INITIALIZE = {
    "protocolVersion": "2025-06-18",
    "capabilities": {},
    "clientInfo": {"name": "minimal-env-client", "version": "1"},
}


async def start(*args: str, env: dict[str, str]) -> RawStdio:
    proc = await asyncio.create_subprocess_exec(
        roundtable_exe(),
        "mcp",
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=16 * 1024 * 1024,
    )
    raw = RawStdio(proc)
    init = await raw.request("initialize", INITIALIZE)
    assert init["result"]["serverInfo"]["name"] == "roundtable", init
    await raw.notify("notifications/initialized")
    return raw


async def call(raw: RawStdio, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    answer = await raw.request("tools/call", {"name": tool, "arguments": arguments})
    result: dict[str, Any] = answer["result"]
    return result


def error_of(result: dict[str, Any]) -> dict[str, Any]:
    assert result["isError"] is True and "structuredContent" not in result, result
    error: dict[str, Any] = json.loads(result["content"][0]["text"])["error"]
    return error


async def messages_in(settings: Settings, project: str) -> list[tuple[str, str]]:
    async with Roundtable.open(settings, sweeper=False) as core:
        page = await core.journal.read_recent("default", project, limit=50)
    return [(entry.agent, entry.message) for entry in reversed(page.entries)]


async def test_bridge_writes_to_the_servers_database(
    live_server: LiveServer, settings: Settings, tmp_path: Path
) -> None:
    token_file = tmp_path / "alice.token"
    token_file.write_text(mint_token(live_server, "alice") + "\n")
    raw = await start("--url", live_server.url, "--token-file", str(token_file), env=MINIMAL)
    try:
        listed = await raw.request("tools/list")
        assert "append_entry" in {tool["name"] for tool in listed["result"]["tools"]}
        done = await call(raw, "set_project", {"project": "web", "create": True})
        assert done["structuredContent"]["version"] == 1
        done = await call(raw, "append_entry", {"message": "through the bridge"})
        assert done["structuredContent"]["agent"] == "alice"

        # Domain errors pass through unchanged, with their recovery data.
        error = error_of(await call(raw, "set_project", {"project": "web", "expected_version": 7}))
        assert error["code"] == "conflict" and error["data"]["current_version"] == 1
        error = error_of(await call(raw, "append_entry", {"mesage": "typo"}))
        assert error["code"] == "invalid_input" and error["data"]["field"] == "mesage"
        # Requests run concurrently: a long-poll does not hold up the calls behind it.
        now = await call(raw, "wait_for_events", {"timeout": 0, "limit": 1000})
        since = now["structuredContent"]["next_after"]
        await raw._send(
            {
                "jsonrpc": "2.0",
                "id": "wait",
                "method": "tools/call",
                "params": {"name": "wait_for_events", "arguments": {"since": since, "timeout": 3}},
            }
        )
        recent = await call(raw, "read_recent", {})  # answered while the long-poll waits
        assert [e["message"] for e in recent["structuredContent"]["entries"]] == [
            "through the bridge"
        ]
        assert raw.proc.stdout is not None
        waited = json.loads(await asyncio.wait_for(raw.proc.stdout.readline(), 30))
        assert waited["id"] == "wait" and waited["result"]["structuredContent"]["events"] == []
    finally:
        code, stderr = await raw.close()
    assert code == 0, stderr
    assert f"bridging to {live_server.url}/mcp as agent alice" in stderr
    assert await messages_in(settings, "web") == [("alice", "through the bridge")]


async def test_bridge_exchanges_the_admin_token_for_the_declared_agent(
    live_server: LiveServer, settings: Settings
) -> None:
    raw = await start(
        "--url",
        live_server.url,
        "--token-file",
        str(settings.data_dir / "admin.token"),
        env=MINIMAL,
    )
    try:
        await call(raw, "set_project", {"project": "ops", "create": True})
        done = await call(raw, "append_entry", {"message": "as alice, not as admin"})
        assert done["structuredContent"]["agent"] == "alice"
    finally:
        code, stderr = await raw.close()
    assert code == 0, stderr
    assert await messages_in(settings, "ops") == [("alice", "as alice, not as admin")]


async def test_a_refused_token_is_said_on_stderr(live_server: LiveServer, tmp_path: Path) -> None:
    token_file = tmp_path / "bad.token"
    token_file.write_text("not-the-admin-token")
    proc = await asyncio.create_subprocess_exec(
        roundtable_exe(),
        "mcp",
        "--url",
        live_server.url,
        "--token-file",
        str(token_file),
        env=MINIMAL,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(b""), 60)
    assert proc.returncode == 1 and stdout == b""
    assert "refused to mint a token for agent 'alice'" in stderr.decode()


async def test_without_settings_it_says_which_database_it_opened(
    live_server: LiveServer, settings: Settings, tmp_path: Path
) -> None:
    # HOME is the only addition: without it the default would be the real user's data dir.
    home = tmp_path / "home"
    raw = await start(env={**MINIMAL, "HOME": str(home)})
    try:
        await call(raw, "set_project", {"project": "web", "create": True})
        await call(raw, "append_entry", {"message": "in the default database"})
    finally:
        code, stderr = await raw.close()
    assert code == 0, stderr
    opened = home / ".local" / "share" / "roundtable" / "roundtable.db"
    assert f"using sqlite+aiosqlite:///{opened}" in stderr, stderr
    assert "XDG_DATA_HOME=unset" in stderr
    assert opened.exists()
    # ... and not the running server's: nothing was written there.
    async with Roundtable.open(settings, sweeper=False) as core:
        assert await core.journal.list_projects("default") == []
