"""The floors `mcp_stdio_append.py` measures Roundtable against, as stdio servers.

    python benchmarks/stdio_floor_servers.py noop   # MCPServer, one tool, same SDK
    python benchmarks/stdio_floor_servers.py echo   # plain asyncio JSON-RPC echo

`noop` takes the same arguments as `append_entry` and returns a small structured result
without doing anything: the cost of the SDK, its stdio transport and pydantic validation.
`echo` answers every JSON-RPC line with an empty result: the cost of the pipe and one
`json.loads`/`json.dumps` per side.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from mcp.server import MCPServer
from pydantic import BaseModel


class NoopResult(BaseModel):
    ok: bool
    seq: int


def noop_server() -> None:
    server: MCPServer = MCPServer("noop")
    calls = 0

    @server.tool()
    async def append_entry(
        message: str,
        status: str = "info",
        kind: str = "progress",
        meta: dict[str, Any] | None = None,
    ) -> NoopResult:
        """Do nothing (the SDK's floor)."""
        nonlocal calls
        calls += 1
        return NoopResult(ok=True, seq=calls)

    server.run("stdio")


async def echo_server() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=16 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, sys.stdout
    )
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    while line := await reader.readline():
        request = json.loads(line)
        answer = {"jsonrpc": "2.0", "id": request.get("id"), "result": {"isError": False}}
        writer.write(json.dumps(answer).encode() + b"\n")
        await writer.drain()


if __name__ == "__main__":
    if sys.argv[1:] == ["noop"]:
        noop_server()
    elif sys.argv[1:] == ["echo"]:
        asyncio.run(echo_server())
    else:
        raise SystemExit("usage: stdio_floor_servers.py noop|echo")
