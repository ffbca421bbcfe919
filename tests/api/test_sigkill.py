"""A `roundtable serve` process killed with SIGKILL in the middle of an append storm loses no
acknowledged entry, and its journal still verifies after a restart."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from roundtable.config import Settings
from tests.live import subprocess_server

WORKERS = 8
KILL_AFTER = 300  # acknowledged entries before the kill
ENV = {
    "ROUNDTABLE_WRITE_RATE_PER_SECOND": "1000000",
    "ROUNDTABLE_WRITE_BURST": "1000000",
    "ROUNDTABLE_SWEEP_INTERVAL_SECONDS": "3600",
}


async def read_all(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    cursor = None
    while True:
        r = await client.post(
            "/entries/query",
            json={"projects": ["crash"], "order": "oldest", "limit": 500, "cursor": cursor},
        )
        assert r.status_code == 200, r.text
        entries.extend(r.json()["entries"])
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return entries


@pytest.mark.slow
async def test_sigkill_mid_storm_loses_no_acknowledged_entry(
    settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    acked: dict[int, tuple[str, str]] = {}  # seq -> (hash, message)
    attempted: set[str] = set()
    with subprocess_server(settings, log, **ENV) as server:
        async with httpx.AsyncClient(
            base_url=server.api(), headers=server.headers, timeout=30
        ) as client:
            assert (await client.post("/projects", json={"name": "crash"})).status_code == 201
            enough = asyncio.Event()

            async def worker(n: int) -> None:
                for i in range(100_000):
                    batch = [{"message": f"w{n} #{i}.{j}"} for j in range(1 + i % 3)]
                    attempted.update(item["message"] for item in batch)
                    try:
                        r = await client.post(
                            "/projects/crash/entries", json={"agent": f"w{n}", "entries": batch}
                        )
                    except httpx.TransportError:
                        return  # the server is gone: this request's fate is unknown
                    assert r.status_code == 201, r.text
                    for entry in r.json()["entries"]:
                        assert entry["seq"] not in acked, "a sequence number was handed out twice"
                        acked[entry["seq"]] = (entry["hash"], entry["message"])
                    if len(acked) >= KILL_AFTER:
                        enough.set()

            workers = [asyncio.create_task(worker(n)) for n in range(WORKERS)]
            await asyncio.wait_for(enough.wait(), timeout=300)
            assert server.process is not None
            os.kill(server.process.pid, signal.SIGKILL)
            await asyncio.gather(*workers)
            assert server.process.wait(timeout=30) == -signal.SIGKILL

    assert len(acked) >= KILL_AFTER
    with subprocess_server(settings, log, **ENV) as server:
        async with httpx.AsyncClient(
            base_url=server.api(), headers=server.headers, timeout=30
        ) as client:
            stored = await read_all(client)
            by_seq = {e["seq"]: e for e in stored}
            assert [e["seq"] for e in stored] == list(range(1, len(stored) + 1))
            for seq, (digest, message) in acked.items():
                assert seq in by_seq, f"acknowledged entry {seq} was lost"
                assert (by_seq[seq]["hash"], by_seq[seq]["message"]) == (digest, message)
            # Anything beyond the acknowledged entries was in flight, never invented.
            assert {e["message"] for e in stored} <= attempted
            assert len({e["message"] for e in stored}) == len(stored)
            report = (await client.get("/projects/crash/verify")).json()
            assert report["ok"] and report["checked"] == len(stored), report

            # The journal goes on from where it was.
            r = await client.post(
                "/projects/crash/entries", json={"agent": "after", "message": "after restart"}
            )
            assert r.status_code == 201 and r.json()["first_seq"] == len(stored) + 1
            assert (await client.get("/projects/crash/verify")).json()["ok"]
