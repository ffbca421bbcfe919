"""`roundtable mcp`: the MCP server on stdin/stdout for one agent process.

It opens the database itself, so several agent processes can share one SQLite file. Nothing but
protocol goes to stdout: logs go to stderr. `initialize` and `tools/list` are answered at once
by the fast front (`front`) while this module imports; the database opens as soon as the server
is built (without the front: just after the first `tools/list` has been answered), or at the
first call that needs it if that comes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from mcp.server import MCPServer

from roundtable import tracing
from roundtable.config import Settings
from roundtable.mcp.common import CoreHandle, McpState
from roundtable.mcp.pipes import Pipes
from roundtable.mcp.server import RoundtableMCP, build_server
from roundtable.mcp.stdio_wire import run_stdio

if TYPE_CHECKING:
    from roundtable.mcp.front import Front
    from roundtable.runtime import Roundtable


#: Open the database this long after the first `tools/list` (its answer is written first), or
#: after start if no list is asked for.
AFTER_LIST_SECONDS = 0.05
AFTER_START_SECONDS = 2.0


async def serve_stdio(settings: Settings, front: Front | None = None) -> None:
    """Serve until stdin closes; behind `front` (which has answered, or will answer, the
    client's `tools/list` itself) when there is one."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)  # unless logs.configure ran
    tracing.configure_from_env()

    async def lifespan(server: MCPServer[McpState]) -> AsyncIterator[McpState]:
        async with contextlib.AsyncExitStack() as stack:
            state = McpState(handle=CoreHandle(), transport="stdio")

            async def open_core() -> Roundtable:
                from roundtable.heap import freeze_startup_objects
                from roundtable.mcp.remember import watch
                from roundtable.mcp.warm import WarmStart
                from roundtable.runtime import Roundtable

                core = await stack.enter_async_context(Roundtable.open(settings))
                writer = core.db.sqlite_writer
                if writer is not None:  # one client, waiting for each COMMIT
                    writer.commit_inline = True
                    if isinstance(server, RoundtableMCP):  # a lone call's write has no company
                        writer.alone = lambda: server.calls_in_flight <= 1
                state.warm = await WarmStart.load(core)
                freeze_startup_objects()  # the heap is built: keep full collections off it
                # Check the journals' checkpoints against those this client saw before (D16).
                watcher = asyncio.create_task(watch(core, settings.namespace))
                stack.push_async_callback(_cancel, watcher)
                return core

            handle = state.handle = CoreHandle(opener=open_core)
            handle.prefetch(AFTER_LIST_SECONDS if front is not None else AFTER_START_SECONDS)
            if front is None and isinstance(server, RoundtableMCP):
                server.after_first_list = lambda: handle.prefetch(AFTER_LIST_SECONDS)
            try:
                yield state
            finally:
                await state.handle.settle()

    server = build_server(lifespan, settings.mcp_tool_groups)
    if front is None:
        pipes = Pipes()
        pipes.start()
        await run_stdio(server, pipes)
    else:
        await run_stdio(server, front, front)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
