"""A `roundtable serve` process killed with SIGKILL in the middle of an append storm loses no
acknowledged entry, and its journal still verifies after a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from roundtable.config import Settings
from tests.crash import ENV, assert_acknowledged_kept, kill_when
from tests.live import subprocess_server

WORKERS = 8
KILL_AFTER = 300  # acknowledged entries before the kill


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
            await kill_when(server, enough, workers)

    assert len(acked) >= KILL_AFTER
    with subprocess_server(settings, log, **ENV) as server:
        async with httpx.AsyncClient(
            base_url=server.api(), headers=server.headers, timeout=30
        ) as client:
            stored = await assert_acknowledged_kept(client, "crash", acked, attempted)

            # The journal goes on from where it was.
            r = await client.post(
                "/projects/crash/entries", json={"agent": "after", "message": "after restart"}
            )
            assert r.status_code == 201 and r.json()["first_seq"] == len(stored) + 1
            assert (await client.get("/projects/crash/verify")).json()["ok"]
