"""The fast front of `roundtable mcp` (`roundtable.mcp.front`): its recorded answers are the
live server's, for every protocol version and choice of tool groups, and the process behind it
behaves like the SDK alone (one answer per request, errors that say why it cannot start)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_HANDSHAKE_VERSION

from roundtable.config import MCP_TOOL_GROUPS, Settings
from roundtable.mcp.front import SNAPSHOT_PATH, TOOL_GROUPS, Recorded, chosen_groups
from roundtable.mcp.snapshot import live_answers
from tests.live import env_for, roundtable_exe
from tests.mcp.test_stdio import RawStdio

REGENERATE = "the snapshot is stale: run `python -m roundtable.mcp.snapshot` and commit it"


def params(version: str) -> dict[str, Any]:
    return {
        "protocolVersion": version,
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    }


def recorded(groups: Any) -> Recorded:
    return Recorded(json.loads(SNAPSHOT_PATH.read_text()), groups)


def test_the_front_knows_the_groups_as_the_settings_do() -> None:
    assert TOOL_GROUPS == MCP_TOOL_GROUPS
    for value in ("all", "journal", " journal , events", "all,proofs", "documents,schemas"):
        expected = Settings(mcp_tools=value).mcp_tool_groups
        assert chosen_groups({"ROUNDTABLE_MCP_TOOLS": value}) == expected
    assert chosen_groups({}) == frozenset(MCP_TOOL_GROUPS)
    for value in ("", " , ", "journal,nope"):
        assert chosen_groups({"ROUNDTABLE_MCP_TOOLS": value}) is None


@pytest.mark.parametrize("version", HANDSHAKE_PROTOCOL_VERSIONS)
async def test_every_protocol_version_is_recorded_as_served(version: str) -> None:
    init, listed = await live_answers(version, MCP_TOOL_GROUPS)
    front = recorded(MCP_TOOL_GROUPS)
    assert front.initialize(params(version)) == init, REGENERATE
    assert front.tools(version) == listed, REGENERATE


@pytest.mark.parametrize(
    "groups",
    [[], *([group] for group in MCP_TOOL_GROUPS), ["events", "journal"], ["documents", "proofs"]],
    ids=lambda groups: ",".join(groups) or "sessions-only",
)
async def test_every_choice_of_groups_is_recorded_as_served(groups: list[str]) -> None:
    init, listed = await live_answers(LATEST_HANDSHAKE_VERSION, groups)
    front = recorded(groups)
    assert front.initialize(params(LATEST_HANDSHAKE_VERSION)) == init, REGENERATE
    assert front.tools(LATEST_HANDSHAKE_VERSION) == listed, REGENERATE


def test_an_initialize_the_front_does_not_recognise_is_left_to_the_sdk() -> None:
    front = recorded(MCP_TOOL_GROUPS)
    assert front.initialize(params("2099-01-01")) is None
    assert front.initialize({**params(LATEST_HANDSHAKE_VERSION), "clientInfo": {}}) is None
    assert front.initialize(None) is None


async def spawn(settings: Settings, **env: str) -> RawStdio:
    proc = await asyncio.create_subprocess_exec(
        roundtable_exe(),
        "mcp",
        env=env_for(settings, ROUNDTABLE_AGENT="alice", **env),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=16 * 1024 * 1024,
    )
    return RawStdio(proc)


@pytest.mark.parametrize("backend", ["sqlite"])  # the front does not touch storage
async def test_an_unrecorded_protocol_version_is_negotiated_by_the_sdk(settings: Settings) -> None:
    raw = await spawn(settings)
    try:
        init = await raw.request("initialize", params("2099-01-01"))
        assert init["result"]["protocolVersion"] == LATEST_HANDSHAKE_VERSION
        await raw.notify("notifications/initialized")
        listed = await raw.request("tools/list")
        assert len(listed["result"]["tools"]) == len(
            recorded(MCP_TOOL_GROUPS).tools(LATEST_HANDSHAKE_VERSION)["tools"]
        )
        assert "result" in await raw.request("ping")
    finally:
        code, stderr = await raw.close()
    assert code == 0, stderr
    assert [json.loads(line)["id"] for line in raw.lines] == [1, 2, 3]


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_server_that_cannot_start_says_why_to_every_request(settings: Settings) -> None:
    raw = await spawn(settings, ROUNDTABLE_SESSION_TTL_SECONDS="-1")
    try:
        init = await raw.request("initialize", params(LATEST_HANDSHAKE_VERSION))
        assert init["result"]["serverInfo"]["name"] == "roundtable"
        await raw.notify("notifications/initialized")
        assert await raw.request("tools/list")
        call = await raw.request("tools/call", {"name": "get_project", "arguments": {}})
        message = call["error"]["message"]
        assert "configuration error" in message and "session_ttl_seconds" in message.lower()
    finally:
        code, stderr = await raw.close()
    assert code == 2
    assert "configuration error" in stderr


def test_the_switch_reads_as_the_settings_do() -> None:
    from roundtable.mcp.front import _enabled

    for value in ("1", "true", "True", "yes", "on", "0", "false", "off", "no", "n"):
        assert _enabled(value) == Settings(mcp_front=value).mcp_front  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_with_and_without_the_front_the_wire_is_the_same(settings: Settings) -> None:
    answers = []
    for switch in ("true", "false"):
        raw = await spawn(settings, ROUNDTABLE_MCP_FRONT=switch, ROUNDTABLE_MCP_TOOLS="journal")
        try:
            init = await raw.request("initialize", params(LATEST_HANDSHAKE_VERSION))
            await raw.notify("notifications/initialized")
            listed = await raw.request("tools/list")
            answers.append((init, listed))
        finally:
            code, stderr = await raw.close()
        assert code == 0, stderr
    assert answers[0] == answers[1]
