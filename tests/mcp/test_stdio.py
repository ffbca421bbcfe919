"""`roundtable mcp` on stdio: the raw wire, and where the agent identity comes from."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from mcp_types import JSONRPCError, JSONRPCResponse, jsonrpc_message_adapter

from roundtable import __version__
from roundtable.config import Settings
from tests.live import env_for, roundtable_exe
from tests.mcp.harness import READ_ONLY, TIMEOUT, fail, ok, stdio


class RawStdio:
    """A `roundtable mcp` process driven line by line, keeping every byte it writes to stdout."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[bytes] = []
        self.next_id = 0

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        await self._send(
            {"jsonrpc": "2.0", "method": method, **({"params": params} if params else {})}
        )

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a request and return its response, reading (and keeping) stdout until it arrives."""
        self.next_id += 1
        await self._send(
            {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params or {}}
        )
        assert self.proc.stdout is not None
        while True:
            line = await asyncio.wait_for(self.proc.stdout.readline(), TIMEOUT)
            assert line, "roundtable mcp closed stdout before answering"
            self.lines.append(line)
            message = json.loads(line)
            if message.get("id") == self.next_id:
                return dict(message)

    async def _send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        await self.proc.stdin.drain()

    async def close(self) -> tuple[int, str]:
        """Close stdin (the MCP way to stop a stdio server); return the exit code and stderr."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        assert self.proc.stderr is not None
        self.proc.stdin.close()
        rest, stderr = await asyncio.wait_for(
            asyncio.gather(self.proc.stdout.read(), self.proc.stderr.read()), TIMEOUT
        )
        self.lines.extend(rest.splitlines(keepends=True))
        return await asyncio.wait_for(self.proc.wait(), TIMEOUT), stderr.decode()


async def test_stdout_carries_only_protocol(settings: Settings) -> None:
    proc = await asyncio.create_subprocess_exec(
        roundtable_exe(),
        "mcp",
        env=env_for(settings, ROUNDTABLE_AGENT="alice"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=16 * 1024 * 1024,
    )
    raw = RawStdio(proc)
    try:
        init = await raw.request(
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw-test", "version": "1"},
            },
        )
        assert init["result"]["serverInfo"] == {"name": "roundtable", "version": __version__}
        assert init["result"]["capabilities"]["tools"] is not None
        await raw.notify("notifications/initialized")

        listed = await raw.request("tools/list")
        assert set(READ_ONLY) <= {tool["name"] for tool in listed["result"]["tools"]}

        def call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
            return {"name": name, "arguments": arguments}

        done = await raw.request(
            "tools/call", call("set_project", {"project": "w", "create": True})
        )
        assert done["result"]["structuredContent"]["version"] == 1
        done = await raw.request("tools/call", call("append_entry", {"message": "over the wire"}))
        assert done["result"]["structuredContent"]["last_seq"] == 1
        bad = await raw.request("tools/call", call("append_entry", {"message": ""}))
        assert bad["result"]["isError"] is True
        assert "structuredContent" not in bad["result"]
        assert json.loads(bad["result"]["content"][0]["text"])["error"]["code"] == "invalid_input"
        unknown = await raw.request("tools/call", call("no_such_tool", {}))
        assert unknown["result"]["isError"] is True
        error = json.loads(unknown["result"]["content"][0]["text"])["error"]
        assert error["code"] == "not_found" and error["data"]["tool"] == "no_such_tool"
        assert "append_entry" in error["data"]["tools"]
        recent = await raw.request("tools/call", call("read_recent", {}))
        assert [e["message"] for e in recent["result"]["structuredContent"]["entries"]] == [
            "over the wire"
        ]
    finally:
        code, stderr = await raw.close()

    assert code == 0, stderr
    assert "Traceback" not in stderr, stderr
    assert raw.lines, "no output at all"
    answered: list[Any] = []
    for line in raw.lines:
        assert line.endswith(b"\n"), f"unterminated stdout line: {line!r}"
        message = jsonrpc_message_adapter.validate_json(line)  # raises on anything else
        if isinstance(message, JSONRPCResponse | JSONRPCError):
            answered.append(message.id)
    assert answered == list(range(1, raw.next_id + 1))  # each request answered once, in order


@pytest.mark.parametrize("backend", ["sqlite"])  # identity handling does not touch storage
async def test_identity_comes_from_the_environment_or_the_agent_argument(
    settings: Settings, stderr_log: Path
) -> None:
    # ROUNDTABLE_AGENT as the identity is what every other stdio test uses.
    async with stdio(settings, None, stderr_log) as anonymous:
        error = await fail(anonymous, "get_project", {}, "invalid_input")
        assert error["data"]["field"] == "agent"
        await fail(anonymous, "start_session", {}, "invalid_input")
        await fail(anonymous, "append_entry", {"message": "m", "project": "w"}, "invalid_input")

        # The local process holds the database: it may act as any agent it names.
        carol = await ok(
            anonymous, "set_project", {"project": "w2", "agent": "carol", "create": True}
        )
        assert (carol["agent"], carol["project"]) == ("carol", "w2")
        entry = await ok(anonymous, "append_entry", {"message": "m", "agent": "carol"})
        assert entry["agent"] == "carol" and entry["project"] == "w2"
        await fail(anonymous, "get_project", {"agent": "not a valid name"}, "invalid_input")
        assert (await ok(anonymous, "verify_journal", {"project": "w2", "agent": "x"}))["ok"]
