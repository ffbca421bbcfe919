"""A real `roundtable serve` for tests: uvicorn in a background thread, or a subprocess."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from starlette.types import ASGIApp

from roundtable.api.app import create_app
from roundtable.config import Settings
from tests.pg import free_port


@dataclass
class LiveServer:
    url: str
    admin_token: str
    settings: Settings
    process: subprocess.Popen[bytes] | None = None  # set for `subprocess_server`

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def api(self, namespace: str = "default") -> str:
        return f"{self.url}/api/v1/namespaces/{namespace}"


def _wait_ready(
    url: str,
    timeout: float = 30.0,
    process: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            output = log.read_text() if log is not None else ""
            raise RuntimeError(f"server exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server at {url} did not become ready")


@contextmanager
def in_thread(settings: Settings) -> Iterator[LiveServer]:
    """Serve `create_app(settings)` on a free loopback port from a background thread."""
    with serving(create_app(settings), settings) as server:
        yield server


@contextmanager
def serving(app: ASGIApp, settings: Settings) -> Iterator[LiveServer]:
    """Serve `app` (built with `settings`) on a free loopback port from a background thread."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url)
        token = (settings.data_dir / "admin.token").read_text().strip()
        yield LiveServer(url=url, admin_token=token, settings=settings)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment that points a `roundtable` subprocess at the same data and database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUNDTABLE_")}
    env["ROUNDTABLE_DATA_DIR"] = str(settings.data_dir)
    env["ROUNDTABLE_DATABASE_URL"] = settings.effective_database_url
    env.update(extra)
    return env


def roundtable_exe() -> str:
    exe = Path(sys.executable).parent / "roundtable"
    return str(exe) if exe.exists() else "roundtable"


@contextmanager
def subprocess_server(
    settings: Settings, log: Path, *, port: int | None = None, **env: str
) -> Iterator[LiveServer]:
    """Run `roundtable serve` as a real process, its output appended to `log`.

    It listens on `port` if given (so a restarted server keeps its URL), else on a free one.
    """
    port = port or free_port()
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            [roundtable_exe(), "serve", "--port", str(port)],
            env=env_for(settings, **env),
            stdout=sink,
            stderr=sink,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process=proc, log=log)
        token = (settings.data_dir / "admin.token").read_text().strip()
        yield LiveServer(url=url, admin_token=token, settings=settings, process=proc)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
