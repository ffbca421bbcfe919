"""What the SIGKILL tests share: a `roundtable serve` storm killed mid-flight, and the check that
every acknowledged entry survived the restart (tests/api/test_sigkill.py,
tests/store/test_group_commit_sigkill.py)."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import httpx

from tests.live import LiveServer

#: Settings for a storm: no rate limit, no sweeper in the way.
ENV = {
    "ROUNDTABLE_WRITE_RATE_PER_SECOND": "1000000",
    "ROUNDTABLE_WRITE_BURST": "1000000",
    "ROUNDTABLE_SWEEP_INTERVAL_SECONDS": "3600",
}


async def kill_when(
    server: LiveServer, enough: asyncio.Event, workers: list[asyncio.Task[None]]
) -> None:
    """SIGKILL the server once `enough` is set; the workers then end on their transport errors."""
    await asyncio.wait_for(enough.wait(), timeout=300)
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGKILL)
    await asyncio.gather(*workers)
    assert server.process.wait(timeout=30) == -signal.SIGKILL


async def read_all(client: httpx.AsyncClient, project: str) -> list[dict[str, Any]]:
    """Every entry of `project`, oldest first."""
    entries: list[dict[str, Any]] = []
    cursor = None
    while True:
        r = await client.post(
            "/entries/query",
            json={"projects": [project], "order": "oldest", "limit": 500, "cursor": cursor},
        )
        assert r.status_code == 200, r.text
        entries.extend(r.json()["entries"])
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return entries


async def assert_acknowledged_kept(
    client: httpx.AsyncClient,
    project: str,
    acked: dict[int, tuple[str, str]],
    attempted: set[str],
) -> list[dict[str, Any]]:
    """Every acknowledged entry (seq -> hash, message) is stored as acknowledged, nothing was
    invented (anything more was in flight), and the journal verifies. Returns what is stored."""
    stored = await read_all(client, project)
    by_seq = {e["seq"]: e for e in stored}
    assert [e["seq"] for e in stored] == list(range(1, len(stored) + 1))
    for seq, (digest, message) in acked.items():
        assert seq in by_seq, f"acknowledged entry {seq} was lost"
        assert (by_seq[seq]["hash"], by_seq[seq]["message"]) == (digest, message)
    assert {e["message"] for e in stored} <= attempted
    assert len({e["message"] for e in stored}) == len(stored)
    report = (await client.get(f"/projects/{project}/verify")).json()
    assert report["ok"] and report["checked"] == len(stored), report
    return stored
