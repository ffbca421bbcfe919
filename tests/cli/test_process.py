"""The installed `roundtable` executable as a real process: follow mode, exit codes, no server."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
from typing import IO, Any

from typer.testing import CliRunner

from roundtable.cli.main import app
from tests.cli.conftest import Cli
from tests.live import env_for, roundtable_exe
from tests.pg import free_port

#: A guard against a hung test, not a performance expectation.
PATIENCE = 30.0
#: A stopped follow command exits as soon as it closes its connection; this only bounds how
#: long a test waits to say that it hung, instead of the two minutes `PATIENCE` elsewhere allows.
STOP_PATIENCE = 15.0


def background_sigint() -> None:
    """Start a child as a non-interactive shell starts a background job: SIGINT ignored.

    The disposition is inherited across exec, so CI runners and scripts can hand it to a
    follow command; `kill -INT` must still stop it (it did not: issue 8).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def stop(proc: subprocess.Popen[str], sig: signal.Signals = signal.SIGINT) -> int:
    """Send `sig` and return the exit code; fail at once, with the output, if it hangs."""
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=STOP_PATIENCE)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, stderr = proc.communicate()
        raise AssertionError(
            f"{proc.args!r} ignored {sig.name}: still running {STOP_PATIENCE} s later; "
            f"stderr: {stderr if stderr is not None else '(redirected)'!r}"
        ) from None


def lines_of(stream: IO[str]) -> queue.Queue[str]:
    """Lines of a process's output as they arrive, read on a background thread."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def cli_env(cli: Cli, **extra: str) -> dict[str, str]:
    return env_for(
        cli.server.settings, ROUNDTABLE_URL=cli.server.url, ROUNDTABLE_AGENT="alice", **extra
    )


def test_tail_follow_streams_new_entries(cli: Cli) -> None:
    cli.use("alice", "web")
    post = cli.api.post
    post("/projects/web/entries", json={"agent": "alice", "message": "before"})
    proc = subprocess.Popen(
        [roundtable_exe(), "log", "tail", "--follow", "--json", "--interval", "0.1"],
        env=cli_env(cli),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=background_sigint,
    )
    try:
        assert proc.stdout is not None
        lines = lines_of(proc.stdout)

        def next_entry() -> dict[str, Any]:
            entry: dict[str, Any] = json.loads(lines.get(timeout=PATIENCE))
            return entry

        assert next_entry()["message"] == "before"
        post("/projects/web/entries", json={"agent": "bob", "message": "one"})
        batch = [{"message": f"batch {i}"} for i in range(150)]  # more than one read page
        post("/projects/web/entries", json={"agent": "alice", "entries": batch})
        streamed = [next_entry() for _ in range(151)]
        assert [e["seq"] for e in streamed] == list(range(2, 153))
        assert streamed[0]["agent"] == "bob" and streamed[-1]["message"] == "batch 149"
        assert proc.poll() is None  # still following
        assert stop(proc, signal.SIGINT) == 0  # Ctrl-C ends a follow normally, like events tail
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_exit_codes_through_the_real_executable(cli: Cli) -> None:
    cli.use("alice", "web")
    cli.use("alice", "web")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [roundtable_exe(), *args],
            env=cli_env(cli),
            capture_output=True,
            text=True,
            timeout=PATIENCE,
        )

    conflict = run("project", "use", "web", "--expect-version", "1")
    assert conflict.returncode == 4
    assert "current_version: 2" in conflict.stderr and conflict.stdout == ""

    bad = run("log", "append", "x", "--meta", "[1]")
    assert bad.returncode == 2 and "meta must be a JSON object" in bad.stderr

    fine = run("log", "append", "hello", "--json")
    assert fine.returncode == 0 and json.loads(fine.stdout)["last_seq"] == 1


def test_no_server_is_a_clear_message_and_exit_1() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    hint = f"is `roundtable serve` running at {url}?"
    result = CliRunner().invoke(
        app, ["project", "list"], env={"ROUNDTABLE_URL": url, "ROUNDTABLE_TOKEN": "t"}
    )
    assert result.exit_code == 1 and hint in result.stderr

    proc = subprocess.run(
        [roundtable_exe(), "log", "tail", "--project", "web"],
        env={"PATH": "/usr/bin:/bin", "ROUNDTABLE_URL": url, "ROUNDTABLE_TOKEN": "t"},
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    assert proc.returncode == 1 and hint in proc.stderr and "Traceback" not in proc.stderr
