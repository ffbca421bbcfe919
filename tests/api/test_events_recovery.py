"""The two ways a reader can fall off the stream, and how it gets back without a silent gap.

Slow consumer: a reader that stops reading fills its bounded queue; it is sent a final `dropped`
event naming where to resume, and resuming there yields the rest, nothing lost or repeated.
Resync: a resume point older than retention gets a `resync` event first, never a silent gap.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from roundtable.config import Settings
from roundtable.runtime import Roundtable
from tests.api.events_helpers import (
    NO_RATE_LIMIT,
    PATIENCE,
    Received,
    latest_id,
    open_stream,
    table_events,
)
from tests.live import LiveServer, subprocess_server

#: Session metadata this large (near `max_meta_bytes`) makes every `session.started` event
#: ~15 KB on the wire, so a reader that does not read fills the socket buffers (a few MB on
#: loopback) and then its bounded queue within a few hundred events.
BULK = {"notes": "x" * 15_000}


async def start_sessions(server: LiveServer, count: int, prefix: str) -> None:
    async with httpx.AsyncClient(timeout=PATIENCE, headers=server.headers) as client:

        async def one(n: int) -> None:
            body = {"agent": f"{prefix}-{n}", "metadata": BULK}
            r = await client.post(f"{server.api()}/sessions", json=body)
            assert r.status_code == 201, r.text

        for first in range(0, count, 20):
            await asyncio.gather(*(one(n) for n in range(first, min(count, first + 20))))


@pytest.mark.slow
async def test_slow_consumer_is_dropped_with_a_resume_point_and_loses_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    env = {**NO_RATE_LIMIT, "ROUNDTABLE_EVENT_QUEUE_SIZE": "4"}
    with subprocess_server(settings, tmp_path / "server.log", **env) as server:
        start = await latest_id(settings)
        first = Received()
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(PATIENCE, read=None)) as slow,
            open_stream(slow, server.url, headers=server.headers, last_event_id=start) as stream,
        ):
            # Not reading while 400 large events are written (~6 MB).
            await start_sessions(server, 400, "slow")
            async for message in stream:
                if message.event == "dropped":
                    first.notices.append(message)
                    continue  # the server closes the stream after it
                first.ids.append(int(message.id or 0))
        assert len(first.notices) == 1, "the slow reader was never dropped"
        hint = first.notices[0].json()
        assert hint["kind"] == "dropped" and hint["reason"] == "slow_consumer"
        assert hint["resume_after"] == first.last == int(first.notices[0].id or 0)
        expected = [row["id"] for row in await table_events(settings, after=start)]
        assert first.ids == expected[: len(first.ids)] and len(first.ids) < len(expected)

        # Resuming from the hint delivers the rest: the union is the table, each event once.
        rest = Received()
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(PATIENCE, read=None)) as client,
            open_stream(
                client, server.url, headers=server.headers, last_event_id=hint["resume_after"]
            ) as stream,
        ):
            async for message in stream:
                rest.ids.append(int(message.id or 0))
                if rest.last >= expected[-1]:
                    break
        assert first.ids + rest.ids == expected


async def test_too_old_resume_point_gets_resync_first(settings: Settings, tmp_path: Path) -> None:
    with subprocess_server(settings, tmp_path / "server.log", **NO_RATE_LIMIT) as server:
        await start_sessions(server, 5, "old")
        old = await table_events(settings)
        # Retention runs (here: with a clock far ahead, so everything so far is too old).
        async with Roundtable.open(settings, sweeper=False) as core:
            far = datetime.now(UTC) + timedelta(days=3650)
            assert await core.events.prune(now=far) >= len(old)
        await start_sessions(server, 3, "new")
        kept = [row["id"] for row in await table_events(settings)]
        assert len(kept) == 3 and kept[0] > old[-1]["id"]

        # The stream: a resync notice first, then everything that is still there.
        got = Received()
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(PATIENCE, read=None)) as client,
            open_stream(
                client, server.url, headers=server.headers, last_event_id=old[0]["id"]
            ) as stream,
        ):
            async for message in stream:
                if message.event == "resync":
                    assert not got.ids, "resync must come first"
                    got.notices.append(message)
                    continue
                got.ids.append(int(message.id or 0))
                if got.last >= kept[-1]:
                    break
        assert len(got.notices) == 1
        resync = got.notices[0].json()
        assert resync["requested_after"] == old[0]["id"]
        assert resync["pruned_through"] >= old[-1]["id"]
        assert resync["resume_after"] == resync["pruned_through"]
        assert got.ids == kept

        # The long-poll says the same in its `resync` field.
        async with httpx.AsyncClient(headers=server.headers) as client:
            r = await client.get(f"{server.url}/api/v1/events", params={"after": old[0]["id"]})
        assert r.status_code == 200, r.text
        assert r.json()["resync"]["pruned_through"] == resync["pruned_through"]
        assert [e["id"] for e in r.json()["events"]] == kept

        # A resume point at or after the pruned ones is not a resync.
        async with httpx.AsyncClient(headers=server.headers) as client:
            r = await client.get(
                f"{server.url}/api/v1/events", params={"after": resync["pruned_through"]}
            )
        assert r.json()["resync"] is None and [e["id"] for e in r.json()["events"]] == kept
