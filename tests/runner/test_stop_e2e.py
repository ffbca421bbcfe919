"""Stopping a session reaches the runner and kills the script it is running."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from roundtable.config import Settings
from tests.live import subprocess_server
from tests.runner import cluster
from tests.runner.cluster import FAST


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; only its parent (the runner) has not reaped it yet.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1].startswith(("R", "S", "D"))
    except OSError:
        return False


def test_stopping_a_session_kills_its_script(settings: Settings, tmp_path: Path) -> None:
    pidfile = tmp_path / "script.pid"
    script = f"import os,time; open({str(pidfile)!r},'w').write(str(os.getpid())); time.sleep(120)"
    with (
        subprocess_server(settings, tmp_path / "server.log", **FAST) as server,
        cluster.runners(tmp_path) as group,
        cluster.api(server) as client,
    ):
        cluster.put_blueprint(
            client,
            {
                "name": "sleeper",
                "executor": {
                    "kind": "script",
                    "config": {"command": [sys.executable, "-c", script]},
                },
            },
        )
        group.start(server.url, server.admin_token, "r1", capacity=2, executors="script")
        sid = cluster.start(client, "sleeper", {"prompt": "sleep"})
        cluster.wait_until("the script to start", lambda: pidfile.exists() and pidfile.read_text())
        pid = int(pidfile.read_text())
        assert alive(pid)

        stopped = client.post(f"/sessions/{sid}/stop")
        assert stopped.status_code == 200, stopped.text
        cluster.wait_until("the script to be killed", lambda: not alive(pid), timeout=30)
        runs = cluster.wait_until(
            "the run to be reported stopped",
            lambda: [r for r in cluster.runs(client, sid) if r["status"] == "stopped"],
        )
        assert len(runs) == 1
        assert cluster.session(client, sid)["status"] == "stopped"
        time.sleep(0.5)  # nothing restarts it
        assert not any(
            r["status"] in ("pending", "claimed", "running") for r in cluster.runs(client, sid)
        )
