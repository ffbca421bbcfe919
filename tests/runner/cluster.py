"""Real processes for end-to-end orchestration tests: `roundtable serve` and `roundtable runner`.

Checks go through the HTTP API with the admin token, never through the code under test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.live import LiveServer, roundtable_exe

#: Server settings that make leases, heartbeats and sweeps fast enough for tests.
FAST = {
    "ROUNDTABLE_RUN_LEASE_SECONDS": "3",
    "ROUNDTABLE_RUNNER_HEARTBEAT_SECONDS": "0.5",
    "ROUNDTABLE_SWEEP_INTERVAL_SECONDS": "0.5",
    "ROUNDTABLE_WRITE_RATE_PER_SECOND": "1000000",
    "ROUNDTABLE_WRITE_BURST": "1000000",
    "ROUNDTABLE_MAX_SESSIONS_PER_AGENT": "100000",
}

ACTIVE = {"pending", "running"}


@dataclass
class RunnerProcess:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def terminate(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Runners:
    """Runner processes started by a test; all killed at the end, whatever happened."""

    tmp: Path
    started: list[RunnerProcess] = field(default_factory=list)

    def start(
        self,
        url: str,
        token: str,
        name: str,
        *,
        capacity: int = 8,
        tags: str = "",
        executors: str = "echo,script",
        grace: float = 5.0,
    ) -> RunnerProcess:
        log = self.tmp / f"runner-{name}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROUNDTABLE_")}
        with log.open("ab") as sink:
            proc = subprocess.Popen(
                [
                    roundtable_exe(),
                    "runner",
                    "--url",
                    url,
                    "--token",
                    token,
                    "--name",
                    name,
                    "--capacity",
                    str(capacity),
                    "--tags",
                    tags,
                    "--executors",
                    executors,
                    "--poll-wait",
                    "2",
                    "--grace",
                    str(grace),
                ],
                env=env,
                stdout=sink,
                stderr=sink,
            )
        runner = RunnerProcess(name=name, process=proc, log=log)
        self.started.append(runner)
        return runner

    def terminate_all(self, timeout: float = 60) -> dict[str, int]:
        """SIGTERM every runner at once (a graceful stop); their exit codes by name."""
        for runner in self.started:
            if runner.process.poll() is None:
                runner.process.send_signal(signal.SIGTERM)
        return {r.name: r.process.wait(timeout=timeout) for r in self.started}

    def assert_alive(self) -> None:
        """Fail at once (not at a timeout) if a runner process died by itself."""
        for runner in self.started:
            code = runner.process.poll()
            if code is not None and code != -9:
                raise RuntimeError(f"runner {runner.name} exited with {code}:\n{runner.text()}")

    def close(self) -> None:
        for runner in self.started:
            if runner.process.poll() is None:
                runner.process.kill()
                runner.process.wait(timeout=30)


@contextmanager
def runners(tmp: Path) -> Iterator[Runners]:
    group = Runners(tmp)
    try:
        yield group
    finally:
        group.close()


def api(server: LiveServer, timeout: float = 30.0) -> httpx.Client:
    return httpx.Client(base_url=server.api(), headers=server.headers, timeout=timeout)


def put_blueprint(client: httpx.Client, spec: dict[str, Any]) -> dict[str, Any]:
    r = client.put(f"/blueprints/{spec['name']}", json=spec)
    assert r.status_code in (200, 201), r.text
    body: dict[str, Any] = r.json()
    return body


def start(client: httpx.Client, blueprint: str, parameters: dict[str, Any], **extra: Any) -> str:
    body = {"blueprint": blueprint, "parameters": parameters, "mode": "async_poll", **extra}
    r = client.post("/agent-sessions", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def session(client: httpx.Client, sid: str) -> dict[str, Any]:
    r = client.get(f"/sessions/{sid}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def children(client: httpx.Client, sid: str) -> list[dict[str, Any]]:
    r = client.get(f"/sessions/{sid}/children")
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["sessions"]
    return found


def runs(client: httpx.Client, sid: str) -> list[dict[str, Any]]:
    r = client.get(f"/sessions/{sid}/runs")
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["runs"]
    return found


def tree(client: httpx.Client, root: str) -> dict[str, list[str]]:
    """Every session of the tree below `root` (included) -> its direct children's ids."""
    edges: dict[str, list[str]] = {}
    todo = [root]
    while todo:
        sid = todo.pop()
        kids = [c["id"] for c in children(client, sid)]
        edges[sid] = kids
        todo.extend(kids)
    return edges


def wait_until(what: str, check: Any, timeout: float = 90.0, every: float = 0.2) -> Any:
    """Call `check()` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (httpx.TransportError, AssertionError) as exc:  # server restarting, or not yet
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")
