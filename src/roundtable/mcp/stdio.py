"""`roundtable mcp`: the MCP server on stdin/stdout for one agent process.

It opens the database itself, so several agent processes can share one SQLite file. Nothing but
protocol goes to stdout: logs go to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys

from roundtable.config import Settings
from roundtable.mcp.jsonrpc_guard import run_guarded_stdio
from roundtable.mcp.remember import watch
from roundtable.mcp.server import for_core
from roundtable.runtime import Roundtable


async def serve_stdio(settings: Settings) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    async with Roundtable.open(settings) as core:
        watcher = asyncio.create_task(watch(core, settings.namespace))
        try:
            await run_guarded_stdio(for_core(core, "stdio"))
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
