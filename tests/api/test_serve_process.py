"""`roundtable serve` as an operator sees it: its startup line, its access log, a quiet stop."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import httpx

from roundtable.config import Settings
from tests.live import subprocess_server

#: A guard against a hung test, not a performance expectation.
PATIENCE = 30.0


def test_stop_with_open_event_streams_is_clean(settings: Settings, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    ended: list[str] = []
    with subprocess_server(settings, log) as server:
        assert server.process is not None
        subscribed = threading.Event()

        def follow(path: str) -> None:
            try:
                with httpx.stream(
                    "GET", server.url + path, headers=server.headers, timeout=PATIENCE
                ) as response:
                    for line in response.iter_lines():
                        if line.startswith(": subscribed"):
                            subscribed.set()
                ended.append("clean")
            except httpx.HTTPError as exc:
                ended.append(f"{type(exc).__name__}: {exc}")

        readers = [
            threading.Thread(target=follow, args=("/api/v1/events/stream",)),
            threading.Thread(target=follow, args=("/api/v1/events/stream?types=journal.*",)),
        ]
        for reader in readers:
            reader.start()
        assert subscribed.wait(PATIENCE)
        httpx.get(f"{server.url}/api/v1/events", params={"wait": 0}, headers=server.headers)
        server.process.send_signal(signal.SIGINT)  # Ctrl-C
        assert server.process.wait(timeout=PATIENCE) == 0
        for reader in readers:
            reader.join(PATIENCE)
    text = log.read_text()
    assert ended == ["clean", "clean"], (ended, text)
    for noise in ("ERROR", "Traceback", "CancelledError", "Cancel "):
        assert noise not in text, text
    first = text.splitlines()[0]  # one line, not wrapped at 80 columns when not a terminal
    assert first.startswith("Roundtable ") and f"data: {settings.data_dir})" in first, text
    assert '"GET /api/v1/events' not in text  # no access log unless asked for


def test_access_log_on_request(settings: Settings, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with subprocess_server(settings, log, ROUNDTABLE_ACCESS_LOG="true") as server:
        r = httpx.get(f"{server.url}/api/v1/namespaces/default/projects", headers=server.headers)
        assert r.status_code == 200
    assert '"GET /api/v1/namespaces/default/projects HTTP/1.1" 200' in log.read_text()
