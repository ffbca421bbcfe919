"""The `roundtable` command. `main` loads only what the command given needs.

`roundtable mcp` is started by MCP clients at every launch, so it skips the rest of the command
line (its HTTP client, Rich output, every subcommand module). `roundtable runner` may run on a
machine with no database and must not import the server code, so it goes straight to its own
light module. Everything else goes through the full Typer app in `roundtable.cli.main`.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["mcp"]:
        from roundtable.cli.mcp import run

        run(sys.argv[2:])
        return
    if sys.argv[1:2] == ["runner"]:
        from roundtable.cli.runner import main as runner_main

        del sys.argv[1]
        runner_main()
        return
    from roundtable.cli.main import main as full

    full()
