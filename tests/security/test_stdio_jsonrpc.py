"""Issue 15, defect 9: `roundtable mcp` over stdio answers malformed input with a JSON-RPC error
(-32700 parse error, -32600 invalid request), says so on stderr, and keeps the connection."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from pathlib import Path
from typing import Any

from roundtable.config import Settings
from roundtable.mcp.pipes import MAX_LINE_BYTES
from tests.live import env_for, roundtable_exe

INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    },
}


class Raw:
    def __init__(self, settings: Settings, stderr: Path) -> None:
        self.errlog = stderr.open("wb")
        self.proc = subprocess.Popen(
            [roundtable_exe(), "mcp"],
            env=env_for(settings, ROUNDTABLE_AGENT="alice"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errlog,
        )
        self.lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def send(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data + b"\n")
        self.proc.stdin.flush()

    def reply(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.lines.get(timeout=60))
        return value

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.errlog.close()


def test_malformed_lines_get_jsonrpc_errors_and_the_connection_survives(
    settings: Settings, tmp_path: Path
) -> None:
    stderr = tmp_path / "stderr.log"
    raw = Raw(settings, stderr)
    try:
        raw.send(json.dumps(INIT).encode())
        assert raw.reply()["id"] == 0
        raw.send(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}')
        deep = b'{"jsonrpc": "2.0", "id": 42, "method": "ping", "params": {"x": ' + (
            b"[" * 5000 + b"]" * 5000 + b"}}"
        )
        huge = b'{"jsonrpc": "2.0", "id": 9, "method": "ping", "params": {"pad": "%s"}}' % (
            b"x" * MAX_LINE_BYTES
        )
        cases: list[tuple[bytes, int, Any]] = [
            (b"this is not json", -32700, None),
            (b'{"jsonrpc": "2.0", "id": 3, "method": "ping"\xff\xfe}', -32700, None),
            (b"[]", -32600, None),
            (b'{"jsonrpc": "2.0", "id": 7}', -32600, 7),
            (b'{"jsonrpc": "2.0", "id": "abc", "params": {}}', -32600, "abc"),
            (b'{"jsonrpc": "1.0", "id": 8, "method": "ping"}', -32600, 8),
            (b"42", -32600, None),
            (deep, -32700, 42),
            (huge, -32600, None),  # refused as it arrives: its id is never read
        ]
        for line, code, ident in cases:
            raw.send(line)
            answer = raw.reply()
            assert answer["jsonrpc"] == "2.0" and answer["id"] == ident, (line[:60], answer)
            assert answer["error"]["code"] == code, (line[:60], answer)
        # The connection is still good: a real request after all that is answered.
        raw.send(json.dumps({"jsonrpc": "2.0", "id": 99, "method": "tools/list"}).encode())
        answer = raw.reply()
        assert answer["id"] == 99 and answer["result"]["tools"], answer
    finally:
        raw.close()
    assert stderr.read_text().count("refused a message") == 9
