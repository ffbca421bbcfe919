"""`roundtable runner` as a process: bad options fail fast; a stop works even with no server."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from tests.live import roundtable_exe
from tests.pg import free_port


def runner(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUNDTABLE_")}
    return subprocess.Popen(
        [roundtable_exe(), "runner", "--token", "t", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_unknown_executor_is_invalid_input() -> None:
    proc = runner("--url", "http://127.0.0.1:9", "--executors", "echo,telepathy")
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "unknown executor 'telepathy'" in stderr


def test_sigterm_while_the_server_is_unreachable_exits_cleanly() -> None:
    proc = runner("--url", f"http://127.0.0.1:{free_port()}")
    deadline = time.monotonic() + 60
    assert proc.stderr is not None
    seen = ""
    while "register failed" not in seen and time.monotonic() < deadline:
        seen += proc.stderr.readline()  # it keeps retrying, saying so
    assert "register failed" in seen
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.returncode == 0
