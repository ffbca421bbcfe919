"""`roundtable mcp`: the MCP server on stdin/stdout for one agent process.

It opens the database itself, so several agent processes can share one SQLite file. Nothing but
protocol goes to stdout: logs go to stderr. The database opens just after start (or at the
first call that needs it), so `initialize` and `tools/list` are answered at once when a client
launches the server.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from mcp.server import MCPServer

from roundtable import tracing
from roundtable.config import Settings
from roundtable.mcp.common import CoreHandle, McpState
from roundtable.mcp.jsonrpc_guard import run_guarded_stdio
from roundtable.mcp.server import build_server

if TYPE_CHECKING:
    from roundtable.runtime import Roundtable


#: Open the database this long after start: after a launching client's `tools/list`.
PREFETCH_SECONDS = 0.25


async def serve_stdio(settings: Settings) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)  # unless logs.configure ran
    tracing.configure_from_env()

    async def lifespan(_: MCPServer[McpState]) -> AsyncIterator[McpState]:
        async with contextlib.AsyncExitStack() as stack:
            state = McpState(handle=CoreHandle(), transport="stdio")

            async def open_core() -> Roundtable:
                from roundtable.mcp.warm import WarmStart
                from roundtable.runtime import Roundtable

                core = await stack.enter_async_context(Roundtable.open(settings))
                state.warm = await WarmStart.load(core)
                return core

            state.handle = CoreHandle(opener=open_core)
            state.handle.prefetch(PREFETCH_SECONDS)
            yield state

    await run_guarded_stdio(build_server(lifespan))
