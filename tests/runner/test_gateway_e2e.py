"""The gateway end to end: a real `roundtable serve`, a real `roundtable runner` holding the
secret, a real HTTP upstream requiring it, and a fake agent (script executor) calling tools
through the gateway. The secret appears nowhere outside the runner: not in the database file,
any API response, the event stream, nor the agent's environment, argv or working directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from roundtable.config import Settings
from tests.live import LiveServer, roundtable_exe, subprocess_server
from tests.runner import cluster
from tests.runner.cluster import FAST
from tests.runner.gateway_helpers import SECRET, http_upstream

AGENT = str(Path(__file__).with_name("fake_agent.py"))

# The runner side is backend-independent: run it once; the registry's own tests run on both.
pytestmark = pytest.mark.only_backend("sqlite")


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[LiveServer]:
    with subprocess_server(settings, tmp_path / "server.log", **FAST) as live:
        yield live


def test_secret_stays_at_the_runner(server: LiveServer, settings: Settings, tmp_path: Path) -> None:
    work = tmp_path / "agent-cwd"
    work.mkdir()
    with http_upstream() as base, cluster.api(server) as api:
        entry = {"name": "gh", "transport": "http", "url": f"{base}/mcp",
                 "auth": {"kind": "bearer", "secret": "GH_TOKEN"}, "deny_tools": ["delete_*"]}  # fmt: skip
        assert api.put("/mcp-servers/gh", json=entry).status_code == 201
        cluster.put_blueprint(
            api,
            {
                "name": "coder",
                "executor": {"kind": "script", "config": {"command": [sys.executable, AGENT],
                                                          "cwd": str(work)}},
                "mcp_servers": ["gh"],
            },
        )  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROUNDTABLE_")}
        log = tmp_path / "runner.log"
        with log.open("ab") as sink:
            runner = subprocess.Popen(
                [roundtable_exe(), "runner", "--url", server.url, "--token", server.admin_token,
                 "--executors", "script", "--poll-wait", "1", "--grace", "2"],
                env={**env, "GH_TOKEN": SECRET}, stdout=sink, stderr=sink,
            )  # fmt: skip
        try:
            sid = cluster.start(api, "coder", {"prompt": "use the tools"})
            done = cluster.wait_until(
                "the run ends",
                lambda: (s := cluster.session(api, sid))["status"] not in cluster.ACTIVE and s,
            )
            assert done["status"] == "idle", (done, log.read_text())
            runs = cluster.runs(api, sid)
            result = runs[0]["result_data"]
            assert result["servers"] == ["gh", "roundtable"]
            assert "delete_repo" not in result["tools"] and "echo" in result["tools"]
            assert (result["echo"], result["whoami"], result["denied"]) == (
                "echo:hi",
                "static",
                True,
            )
            assert result["roundtable_tools"] > 0
            responses = [
                api.get(f"/sessions/{sid}").text,
                json.dumps(runs),
                api.get("/mcp-servers").text,
                api.get("/mcp-servers/gh").text,
                api.get("/blueprints/coder").text,
            ]
            events = api.get(server.url + "/api/v1/events", params={"limit": 1000}).text
        finally:
            runner.terminate()
            runner.wait(30)
    calls = [
        item["data"]
        for event in json.loads(events)["events"]
        if event["type"] == "run.progress"
        for item in event["payload"]["events"]
        if item["kind"] == "mcp_call"
    ]
    assert {(c["server"], c["tool"], c["outcome"]) for c in calls} >= {
        ("gh", "echo", "ok"),
        ("gh", "delete_repo", "denied"),
    }
    seen = (work / "seen.json").read_text()
    assert "GH_TOKEN" not in json.loads(seen)["env"]
    assert SECRET not in seen, "the agent's env, argv or cwd files hold the secret"
    for text in [*responses, events]:
        assert SECRET not in text
    for file in tmp_path.rglob("*"):  # the database file, server and runner logs included
        if file.is_file():
            assert SECRET.encode() not in file.read_bytes(), f"{file} holds the secret"
