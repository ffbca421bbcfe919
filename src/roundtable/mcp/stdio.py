"""`roundtable mcp`: the MCP server on stdin/stdout for one agent process.

It opens the database itself, so several agent processes can share one SQLite file. Nothing but
protocol goes to stdout: logs go to stderr.
"""

from __future__ import annotations

import logging
import sys

from roundtable import tracing
from roundtable.config import Settings
from roundtable.mcp.server import for_core
from roundtable.runtime import Roundtable


async def serve_stdio(settings: Settings) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)  # unless logs.configure ran
    tracing.configure_from_env()
    async with Roundtable.open(settings) as core:
        await for_core(core, "stdio").run_stdio_async()
