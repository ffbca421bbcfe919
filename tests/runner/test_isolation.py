"""The runner runs where there is no database: importing it must not load the store."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("roundtable.store", "roundtable.runtime", "roundtable.api", "sqlalchemy", "alembic")


def test_runner_imports_neither_store_nor_server() -> None:
    code = (
        "import sys\n"
        "import roundtable.runner, roundtable.runner.executors, roundtable.cli.runner\n"
        "import roundtable.cli\n"
        f"bad = sorted(m for m in sys.modules if m.startswith({FORBIDDEN!r}))\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "", f"the runner imported: {done.stdout.strip()}"
