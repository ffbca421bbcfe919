"""No write is acknowledged before its COMMIT: a `roundtable serve` process killed with SIGKILL
in the middle of a storm of concurrent set_project and append calls from many agents (on
SQLite, many writes sharing each COMMIT) still holds every write it acknowledged after a
restart, and its journal verifies."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from roundtable.config import Settings
from tests.crash import ENV, assert_acknowledged_kept, kill_when
from tests.live import subprocess_server

SWITCHERS = 12  # agents calling set_project
APPENDERS = 12  # agents appending single entries
KILL_AFTER = 400  # acknowledged writes before the kill
PROJECTS = ("crash", "other")


@pytest.mark.slow
async def test_sigkill_mid_storm_loses_no_acknowledged_write(
    settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    entries: dict[int, tuple[str, str]] = {}  # seq -> (hash, message), acknowledged
    attempted: set[str] = set()
    contexts: dict[str, tuple[int, str]] = {}  # agent -> last acknowledged (version, project)
    calls: dict[str, int] = {}  # agent -> set_project calls sent
    acked = 0
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    with subprocess_server(settings, log, **ENV) as server:
        async with httpx.AsyncClient(
            base_url=server.api(), headers=server.headers, timeout=30, limits=limits
        ) as client:
            for name in PROJECTS:
                assert (await client.post("/projects", json={"name": name})).status_code == 201
            enough = asyncio.Event()

            def count() -> None:
                nonlocal acked
                acked += 1
                if acked >= KILL_AFTER:
                    enough.set()

            async def switcher(agent: str) -> None:
                version = 0
                for i in range(100_000):
                    project = PROJECTS[i % 2]
                    calls[agent] = i + 1
                    try:
                        r = await client.put(
                            f"/agents/{agent}/context",
                            json={"project": project, "expected_version": version},
                        )
                    except httpx.TransportError:
                        return  # the server is gone: this call's fate is unknown
                    assert r.status_code == 200, r.text
                    version = r.json()["version"]
                    assert version == i + 1
                    contexts[agent] = (version, project)
                    count()

            async def appender(agent: str) -> None:
                for i in range(100_000):
                    message = f"{agent} #{i}"
                    attempted.add(message)
                    try:
                        r = await client.post(
                            "/projects/crash/entries", json={"agent": agent, "message": message}
                        )
                    except httpx.TransportError:
                        return
                    assert r.status_code == 201, r.text
                    (entry,) = r.json()["entries"]
                    assert entry["seq"] not in entries, "a sequence number was handed out twice"
                    entries[entry["seq"]] = (entry["hash"], entry["message"])
                    count()

            workers = [asyncio.create_task(switcher(f"s{n}")) for n in range(SWITCHERS)]
            workers += [asyncio.create_task(appender(f"a{n}")) for n in range(APPENDERS)]
            await asyncio.wait_for(enough.wait(), timeout=300)  # then look before the kill
            if settings.effective_database_url.startswith("sqlite"):
                scrape = (await client.get(f"{server.url}/metrics")).text
                group = dict(
                    line.removeprefix("roundtable_db_group_commit_writes_").split()
                    for line in scrape.splitlines()
                    if line.startswith(
                        (
                            "roundtable_db_group_commit_writes_count ",
                            "roundtable_db_group_commit_writes_sum ",
                        )
                    )
                )
                assert float(group["sum"]) > float(group["count"]), "no COMMIT was shared"
            await kill_when(server, enough, workers)

    assert acked >= KILL_AFTER and entries and contexts
    with subprocess_server(settings, log, **ENV) as server:
        async with httpx.AsyncClient(
            base_url=server.api(), headers=server.headers, timeout=30
        ) as client:
            await assert_acknowledged_kept(client, "crash", entries, attempted)

            for agent, (version, project) in contexts.items():
                info = (await client.get(f"/agents/{agent}/context")).json()
                # The acknowledged switch is there; at most the one in flight came after it.
                assert version <= info["version"] <= calls[agent], (agent, info)
                if info["version"] == version:
                    assert info["project"] == project
                else:
                    assert info["project"] == PROJECTS[(info["version"] - 1) % 2]
