"""The `roundtable` executable: `runner` goes straight to its light module, the rest to `main`.

A runner may run on a machine with no database, and must not pay for (or depend on) the server
code the other commands import, so its command is dispatched before `cli.main` is loaded.
"""

from __future__ import annotations

import sys


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "runner":
        from roundtable.cli.runner import main as runner_main

        del sys.argv[1]
        runner_main()
        return
    from roundtable.cli.main import main as full_main

    full_main()
