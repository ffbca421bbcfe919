"""Helpers for the event-stream tests: the table as truth, SSE readers, servers on fixed ports."""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select

from roundtable.client.sse import SseMessage, SseParser, messages
from roundtable.config import Settings
from roundtable.store import tables
from roundtable.store.engine import Database

#: Generous limit for "eventually" conditions; tests never assert how fast things happen.
PATIENCE = 120.0

#: Writers in these tests are deliberately fast; the rate limiter is not what they test.
NO_RATE_LIMIT = {
    "ROUNDTABLE_WRITE_RATE_PER_SECOND": "1000000",
    "ROUNDTABLE_WRITE_BURST": "1000000",
}


@dataclass(frozen=True)
class Want:
    """A reader's filter, applied to table rows independently of the server's EventFilter."""

    types: tuple[str, ...] = ()
    namespace: str | None = None
    project: str | None = None
    agent: str | None = None
    session: str | None = None

    def params(self) -> list[tuple[str, str]]:
        params = [("types", t) for t in self.types]
        for name in ("namespace", "project", "agent", "session"):
            value = getattr(self, name)
            if value is not None:
                params.append((name, value))
        return params

    def matches(self, row: dict[str, Any]) -> bool:
        if self.types and not any(fnmatch.fnmatchcase(row["type"], t) for t in self.types):
            return False
        return all(
            value is None or row[column] == value
            for column, value in (
                ("namespace", self.namespace),
                ("project", self.project),
                ("agent", self.agent),
                ("session_id", self.session),
            )
        )


async def table_events(settings: Settings, after: int = 0) -> list[dict[str, Any]]:
    """Every event row with id > `after`, read straight from the database (the truth)."""
    db = Database(settings.effective_database_url)
    try:
        async with db.read() as conn:
            query = select(tables.events).where(tables.events.c.id > after)
            rows = await conn.execute(query.order_by(tables.events.c.id))
            return [dict(row) for row in rows.mappings()]
    finally:
        await db.close()


async def latest_id(settings: Settings) -> int:
    rows = await table_events(settings)
    return rows[-1]["id"] if rows else 0


@dataclass
class Received:
    """What one reader got: event ids in arrival order, plus notices."""

    ids: list[int] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    notices: list[SseMessage] = field(default_factory=list)
    connections: int = 0

    @property
    def last(self) -> int:
        return self.ids[-1] if self.ids else 0


@contextlib.asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    params: Sequence[tuple[str, str]] = (),
    last_event_id: int | None = None,
) -> AsyncIterator[AsyncIterator[SseMessage]]:
    """One SSE connection; yields its messages (after checking it is a 200 event stream)."""
    sent = dict(headers or {})
    if last_event_id is not None:
        sent["Last-Event-ID"] = str(last_event_id)
    async with client.stream(
        "GET", f"{url}/api/v1/events/stream", headers=sent, params=tuple(params)
    ) as response:
        if response.status_code != 200:
            await response.aread()
            raise AssertionError(f"stream answered {response.status_code}: {response.text}")
        assert response.headers["content-type"].startswith("text/event-stream")
        yield messages(response, SseParser())


async def wait_for(condition: Any, what: str, patience: float = PATIENCE) -> None:
    """Poll an (async or plain) condition until it holds; fail after `patience` naming `what`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
