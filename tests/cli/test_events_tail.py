"""`roundtable events tail` as a real process against a real server that is restarted under it:
it reconnects, resumes with Last-Event-ID, and prints every event exactly once, in order."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import IO, Any

import httpx
from typer.testing import CliRunner

from roundtable.cli.main import app
from roundtable.config import Settings
from roundtable.runtime import Roundtable
from tests.api.events_helpers import NO_RATE_LIMIT, table_events, wait_for
from tests.cli.test_process import background_sigint, lines_of, stop
from tests.live import LiveServer, env_for, roundtable_exe, subprocess_server
from tests.pg import free_port


def sessions(server: LiveServer, prefix: str, count: int) -> None:
    for n in range(count):
        r = httpx.post(
            f"{server.api()}/sessions", json={"agent": f"{prefix}-{n}"}, headers=server.headers
        )
        assert r.status_code == 201, r.text


def start_tail(settings: Settings, url: str, stderr: IO[str]) -> subprocess.Popen[str]:
    command = ["events", "tail", "--json", "--after", "0", "--type", "session.*"]
    return subprocess.Popen(
        [roundtable_exe(), *command],
        env=env_for(settings, ROUNDTABLE_URL=url),
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        preexec_fn=background_sigint,  # as a CI runner or a script's `&` hands it down
    )


async def test_tail_survives_a_server_restart(settings: Settings, tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "server.log"
    printed: list[dict[str, Any]] = []
    stderr_path = tmp_path / "tail.err"
    with (
        subprocess_server(settings, log, port=port, **NO_RATE_LIMIT) as server,
        stderr_path.open("w") as err,
    ):
        sessions(server, "before", 3)
        proc = start_tail(settings, server.url, err)
        assert proc.stdout is not None
        lines = lines_of(proc.stdout)

        def drain() -> bool:
            while not lines.empty():
                printed.append(json.loads(lines.get()))
            return True

        async def have(count: int) -> bool:
            drain()
            assert proc.poll() is None, stderr_path.read_text()
            return len(printed) >= count

        await wait_for(lambda: have(3), "tail to print the first events")
    try:
        # The first server is gone now (the `with` ended); write while it is down, straight
        # through the core, as another process sharing the database would.
        async with Roundtable.open(settings, sweeper=False) as core:
            await core.sessions.start("default", "while-down", {})
        with subprocess_server(settings, log, port=port, **NO_RATE_LIMIT) as server:
            sessions(server, "after", 2)
            rows = [r for r in await table_events(settings) if r["type"].startswith("session.")]
            assert len(rows) == 6
            await wait_for(lambda: have(len(rows)), "tail to print every session event")
            assert [e["id"] for e in printed] == [r["id"] for r in rows]
            assert [e["agent"] for e in printed] == [
                "before-0",
                "before-1",
                "before-2",
                "while-down",
                "after-0",
                "after-1",
            ]
            assert stop(proc, signal.SIGINT) == 0
        drain()
        assert len(printed) == len(rows)  # nothing printed twice after the restart
        assert "connection lost" in stderr_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_tail_exit_codes_for_auth_and_no_server(settings: Settings, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {
        "ROUNDTABLE_DATA_DIR": str(settings.data_dir),
        "ROUNDTABLE_DATABASE_URL": settings.effective_database_url,
        "COLUMNS": "200",
    }
    port = free_port()
    result = runner.invoke(app, ["events", "tail", "--url", f"http://127.0.0.1:{port}"], env=env)
    assert result.exit_code == 1 and "cannot" in result.stderr, result.stderr
    with subprocess_server(settings, tmp_path / "server.log", port=port) as server:
        result = runner.invoke(
            app, ["events", "tail", "--url", server.url, "--token", "wrong"], env=env
        )
        assert result.exit_code == 6 and "unauthenticated" in result.stderr, result.stderr
        r = httpx.post(f"{server.api('alpha')}/tokens", json={"agent": "a"}, headers=server.headers)
        alpha = r.json()["token"]
        result = runner.invoke(
            app,
            ["events", "tail", "--url", server.url, "--token", alpha, "--namespace", "beta"],
            env=env,
        )
        assert result.exit_code == 6 and "permission_denied" in result.stderr, result.stderr
        result = runner.invoke(
            app, ["events", "tail", "--url", server.url, "--project", "bad name"], env=env
        )
        assert result.exit_code == 2 and "invalid_input" in result.stderr, result.stderr
