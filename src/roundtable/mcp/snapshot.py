"""The `initialize` and `tools/list` answers of `roundtable mcp`, recorded for its fast front.

`roundtable mcp` answers a client's first two requests from `snapshot.json` (see `front`) while
the MCP SDK and the services import behind it. This module makes that file from the live
server: for each protocol version the SDK negotiates through `initialize`, it runs the real
server on in-memory streams, sends `initialize`, `notifications/initialized` and `tools/list`,
and records the results exactly as the stdio transport would write them. Each tool is labelled
with its group (`ROUNDTABLE_MCP_TOOLS`), so the front can serve any choice of groups.
tests/mcp/test_snapshot.py checks the file against the live server, so it cannot drift:

    python -m roundtable.mcp.snapshot          # rewrite src/roundtable/mcp/snapshot.json
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Collection
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp.server import MCPServer
from mcp.shared._context_streams import create_context_streams
from mcp.shared.message import SessionMessage
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from roundtable import __version__
from roundtable.config import MCP_TOOL_GROUPS
from roundtable.mcp.common import CoreHandle, McpState
from roundtable.mcp.front import SNAPSHOT_PATH, initialize_key
from roundtable.mcp.server import build_server

#: The group label of the tools every server has.
SESSIONS = "sessions"


async def live_answers(version: str, groups: Collection[str]) -> tuple[Any, Any]:
    """(`initialize` result, `tools/list` result) of a live server with these tool groups,
    as JSON values, for a client asking for protocol `version`."""

    async def lifespan(_: MCPServer[McpState]) -> AsyncIterator[McpState]:
        yield McpState(handle=CoreHandle(), transport="stdio")

    server = build_server(lifespan, groups)
    lowlevel = server._lowlevel_server
    to_server, server_reads = create_context_streams[SessionMessage | Exception](8)
    server_writes, from_server = create_context_streams[SessionMessage](8)
    requests: list[dict[str, Any]] = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": version,
                "capabilities": {},
                "clientInfo": {"name": "snapshot", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]
    answers: dict[Any, Any] = {}
    async with anyio.create_task_group() as tg:
        tg.start_soon(
            lowlevel.run, server_reads, server_writes, lowlevel.create_initialization_options()
        )
        for request in requests:
            message = types.jsonrpc_message_adapter.validate_python(request, by_name=False)
            await to_server.send(SessionMessage(message))
            if "id" not in request:
                continue
            # As the stdio transport writes it (`mcp.server.stdio`).
            wire = (await from_server.receive()).message.model_dump_json(
                by_alias=True, exclude_unset=True
            )
            answers[request["id"]] = json.loads(wire)["result"]
        await to_server.aclose()
        tg.cancel_scope.cancel()
    return answers[1], answers[2]


async def record() -> dict[str, Any]:
    """The snapshot: per protocol version, the `initialize` answers (`front.initialize_key`)
    and every tool labelled with its group, in the order the server lists them (`tools`, unless
    a version lists them differently from the newest)."""
    versions: dict[str, Any] = {}
    for version in HANDSHAKE_PROTOCOL_VERSIONS:
        initialize: dict[str, Any] = {}
        labelled: list[dict[str, Any]] = []
        for group in (SESSIONS, *MCP_TOOL_GROUPS):
            chosen = [] if group == SESSIONS else [group]
            init, listed = await live_answers(version, chosen)
            if initialize.setdefault(initialize_key(chosen), init) != init:
                raise RuntimeError(f"initialize differs for {chosen}: extend initialize_key")
            if set(listed) != {"tools"}:
                raise RuntimeError(f"tools/list has more than tools: {sorted(listed)}")
            known = {entry["tool"]["name"] for entry in labelled}
            labelled.extend(
                {"group": group, "tool": tool}
                for tool in listed["tools"]
                if tool["name"] not in known
            )
        every, listed = await live_answers(version, MCP_TOOL_GROUPS)
        if every != initialize[initialize_key(MCP_TOOL_GROUPS)] or listed["tools"] != [
            entry["tool"] for entry in labelled
        ]:
            raise RuntimeError("the server with every group is not the sum of its groups")
        versions[version] = {"initialize": initialize, "tools": labelled}
    # The tools are listed alike in every version so far: keep one copy.
    shared = versions[HANDSHAKE_PROTOCOL_VERSIONS[-1]]["tools"]
    for answers in versions.values():
        if answers["tools"] == shared:
            del answers["tools"]
    return {"server_version": __version__, "tools": shared, "versions": versions}


def main() -> None:
    snapshot = anyio.run(record)
    SNAPSHOT_PATH.write_text(json.dumps(snapshot, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {Path(SNAPSHOT_PATH).name}", file=sys.stderr)


if __name__ == "__main__":
    main()
