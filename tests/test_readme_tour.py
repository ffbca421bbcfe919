"""The README's CLI tour, run as a newcomer runs it: its own commands, in order, in a fresh home.

The commands are read from the README's "Use the CLI" block, so the tour cannot drift from the
code: a renamed option or a changed default fails here. Each runs as a real `roundtable`
process against a real `roundtable serve`, with nothing set but a free port (the machine is
shared, 8765 may be taken) and an empty HOME, so the default data directory is used.
"""

from __future__ import annotations

import os
import queue
import re
import shlex
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.cli.test_process import STOP_PATIENCE, lines_of
from tests.live import _wait_ready, roundtable_exe
from tests.pg import free_port

README = Path(__file__).resolve().parent.parent / "README.md"
#: A guard against a hung command, not a performance expectation.
PATIENCE = 60.0
#: Tour commands that need the reader's own files; everything else runs.
NEEDS_READERS_FILES = {"import scribe"}


def shell_block(after_heading: str) -> list[str]:
    """The commands of the first ```sh block after `after_heading`, as argument lists."""
    text = README.read_text()
    start = text.index(after_heading)
    block = re.search(r"```sh\n(.*?)```", text[start:], re.S)
    assert block is not None, f"no shell block after {after_heading!r}"
    return [
        shlex.split(line, comments=True) for line in block.group(1).splitlines() if line.strip()
    ]


def newcomer_env(home: Path, port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ROUNDTABLE_") and k not in ("XDG_DATA_HOME", "COLUMNS")
    }
    env.update(HOME=str(home), ROUNDTABLE_PORT=str(port))
    return env


@contextmanager
def serve(env: dict[str, str], cwd: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    with (cwd / "serve.log").open("ab") as log:
        proc = subprocess.Popen(
            [roundtable_exe(), "serve"], env=env, cwd=cwd, stdout=log, stderr=log
        )
    try:
        _wait_ready(f"http://127.0.0.1:{port}", process=proc, log=cwd / "serve.log")
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)  # how the README says to stop it
        assert proc.wait(timeout=PATIENCE) == 0, (cwd / "serve.log").read_text()


def follow(argv: list[str], env: dict[str, str], cwd: Path, poke: list[str]) -> str:
    """Run a follow command until it prints a line, then Ctrl-C it; it must exit 0.

    `poke` (another tour command) runs until the follower has something to print: a follower
    that starts "from now" prints only what happens after it has subscribed.
    """
    proc = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        lines = lines_of(proc.stdout)
        for _ in range(int(PATIENCE)):
            try:
                first = lines.get(timeout=1.0)
                break
            except queue.Empty:
                assert proc.poll() is None, proc.communicate()
                subprocess.run(poke, env=env, cwd=cwd, capture_output=True, check=True)
        else:
            raise AssertionError(f"{argv} printed nothing")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=STOP_PATIENCE) == 0
        return first
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_cli_tour_runs_as_written(tmp_path: Path) -> None:
    commands = shell_block("### Use the CLI")
    assert commands[0] == ["roundtable", "serve"] and len(commands) > 15
    append = next(c for c in commands if c[1:3] == ["log", "append"])
    poke = [roundtable_exe(), *append[1:]]
    home, port = tmp_path / "home", free_port()
    home.mkdir()
    env = newcomer_env(home, port)
    data_dir = home / ".local" / "share" / "roundtable"
    ran: list[str] = []
    with serve(env, tmp_path, port) as server:
        for argv in commands[1:]:
            command = shlex.join(argv)
            assert argv[0] == "roundtable", command
            if " ".join(argv[1:3]) in NEEDS_READERS_FILES:
                continue
            argv = [roundtable_exe(), *argv[1:]]
            run_env = env
            if argv[1:3] == ["import", "jsonl"]:  # "... into another database"
                run_env = {**env, "ROUNDTABLE_DATA_DIR": str(tmp_path / "elsewhere")}
            if "--follow" in argv or argv[1:3] == ["events", "tail"]:
                output = follow(argv, run_env, tmp_path, poke)
            else:
                result = subprocess.run(
                    argv,
                    env=run_env,
                    cwd=tmp_path,
                    capture_output=True,
                    text=True,
                    timeout=PATIENCE,
                )
                assert result.returncode == 0, (command, result.stdout, result.stderr)
                output = result.stdout + result.stderr
            assert output.strip(), command  # every step shows the newcomer something
            ran.append(command)
        assert server.poll() is None
    assert (data_dir / "roundtable.db").exists() and (data_dir / "admin.token").exists()
    assert (data_dir / "mirrors" / "web" / "PROGRESS_LOG.md").exists()
    assert (tmp_path / "default.jsonl").exists()
    assert (tmp_path / "elsewhere" / "roundtable.db").exists()
    assert len(ran) == len(commands) - 1 - len(NEEDS_READERS_FILES)
