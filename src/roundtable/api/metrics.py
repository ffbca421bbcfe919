"""The Prometheus endpoint: `/metrics` on the API port (admin token), and optionally a plain
`/metrics` on a separate loopback-only port (`ROUNDTABLE_METRICS_PORT`) for a local scraper
that holds no token.

The separate listener is a tiny asyncio HTTP/1.1 server (GET /metrics only) on the server's own
event loop: it needs no thread and no second web stack, and it binds 127.0.0.1 only, so what
it tells is readable only from the machine itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

from fastapi import APIRouter, Response
from prometheus_client import CollectorRegistry, Gauge

from roundtable import metrics
from roundtable.api.deps import Caller, Core
from roundtable.errors import PermissionDenied
from roundtable.journal.health import journal_health
from roundtable.orchestration import gauges
from roundtable.runtime import Roundtable

log = logging.getLogger("roundtable.metrics")

router = APIRouter()


#: Scrape-time gauges: each function reads state from the database and sets gauges in the
#: scrape's registry. Another area adds its own (queue depth, runners online, ...) with
#: `SCRAPERS.append(fn)`; metric names must not repeat the process metrics' names.
Scraper = Callable[[Roundtable, CollectorRegistry], Awaitable[None]]


async def journal_gauges(core: Roundtable, registry: CollectorRegistry) -> None:
    """Per journal: checkpoint age, size, entries not yet covered by a signed checkpoint."""
    labels = ["namespace", "project"]
    age = Gauge(
        "roundtable_journal_checkpoint_age_seconds",
        "Seconds since the journal's newest signed checkpoint (since its creation if it has "
        "entries and no checkpoint yet; 0 for an empty journal).",
        labels,
        registry=registry,
    )
    size = Gauge("roundtable_journal_entries", "Entries in the journal.", labels, registry=registry)
    unsigned = Gauge(
        "roundtable_journal_unsigned_entries",
        "Entries appended after the newest signed checkpoint.",
        labels,
        registry=registry,
    )
    now = datetime.now(UTC)
    for journal in await journal_health(core.db):
        key = {"namespace": journal.namespace, "project": journal.project}
        since = journal.checkpoint_at or (journal.created_at if journal.size else now)
        age.labels(**key).set(max(0.0, (now - since).total_seconds()))
        size.labels(**key).set(journal.size)
        unsigned.labels(**key).set(journal.size - (journal.checkpoint_size or 0))


async def orchestration_gauges(core: Roundtable, registry: CollectorRegistry) -> None:
    """Runs by status, queue depth and age per executor, runners by state, callback backlog."""
    gauges.register(await gauges.queue_health(core.db, core.settings), registry)


SCRAPERS: list[Scraper] = [journal_gauges, orchestration_gauges]


async def scrape(core: Roundtable) -> bytes:
    """Everything a scrape returns: the process (or multiprocess) metrics, then the gauges the
    `SCRAPERS` read from the database now."""
    registry = CollectorRegistry()
    for scraper in SCRAPERS:
        await scraper(core, registry)
    return metrics.render(registry)


@router.get("/metrics", tags=["meta"], response_class=Response)
async def metrics_endpoint(core: Core, caller: Caller) -> Response:
    """Prometheus text exposition (admin token; or use the loopback-only metrics port)."""
    if not caller.admin:
        raise PermissionDenied("metrics need the admin token")
    return Response(await scrape(core), media_type=metrics.CONTENT_TYPE_LATEST)


@contextlib.asynccontextmanager
async def loopback_listener(core: Roundtable, port: int) -> AsyncIterator[None]:
    """Serve GET /metrics on 127.0.0.1:`port` while the block runs."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            method, _, rest = head.partition(b" ")
            target = rest.partition(b" ")[0].split(b"?")[0]
            if method != b"GET" or target != b"/metrics":
                status, body, kind = b"404 Not Found", b"not found\n", b"text/plain"
            else:
                body = await scrape(core)
                status, kind = b"200 OK", metrics.CONTENT_TYPE_LATEST.encode()
            writer.write(
                b"HTTP/1.1 " + status + b"\r\nContent-Type: " + kind
                + b"\r\nContent-Length: " + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n" + body
            )  # fmt: skip
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # a client that sends no complete request gets nothing
        except Exception:
            log.exception("metrics scrape failed")
            with contextlib.suppress(Exception):
                writer.write(b"HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\r\n")
                await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()
