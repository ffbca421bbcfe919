"""Server-Sent Events for clients: a parser for `text/event-stream` and a resuming follower.

The parser follows the WHATWG rules closely enough for our server and any proxy in between:
`field: value` lines, `data` lines joined with newlines, a message dispatched at a blank line,
comment lines (`:`) ignored except that they prove the connection is alive. `follow` reconnects
after a dropped connection or a `dropped` notice and resumes with `Last-Event-ID`, so a reader
sees every event exactly once across reconnects.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from roundtable.client.http import ServerUnreachable, error_from_response
from roundtable.client.retry import backoff_ceiling

STREAM_PATH = "/api/v1/events/stream"


@dataclass(frozen=True)
class SseMessage:
    """One dispatched message. `id` is the last id seen on the stream (it carries over)."""

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        return json.loads(self.data) if self.data else None


@dataclass
class SseParser:
    """Feed lines (without their line ending); complete messages come back from `feed`."""

    last_id: str | None = None
    retry: int | None = None
    comments: int = 0
    _event: str = ""
    _data: list[str] = field(default_factory=list)
    _has_data: bool = False

    def feed(self, line: str) -> SseMessage | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            self.comments += 1
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
            self._has_data = True
        elif name == "id":
            if "\0" not in value:
                self.last_id = value
        elif name == "retry" and value.isdigit():
            self.retry = int(value)
        return None

    def _dispatch(self) -> SseMessage | None:
        event, data, has_data = self._event, self._data, self._has_data
        self._event, self._data, self._has_data = "", [], False
        if not has_data:
            return None
        return SseMessage(
            event=event or "message", data="\n".join(data), id=self.last_id, retry=self.retry
        )

    def feed_all(self, lines: Iterable[str]) -> list[SseMessage]:
        return [m for m in (self.feed(line) for line in lines) if m is not None]


async def messages(response: httpx.Response, parser: SseParser) -> AsyncIterator[SseMessage]:
    """The messages of a streaming response, as they arrive."""
    async for line in response.aiter_lines():
        message = parser.feed(line)
        if message is not None:
            yield message


def stream_params(
    *,
    types: Iterable[str] = (),
    namespace: str | None = None,
    project: str | None = None,
    agent: str | None = None,
    session: str | None = None,
) -> list[tuple[str, str]]:
    """Query parameters for the stream and long-poll endpoints (None and empty are left out)."""
    params = [("types", t) for t in types]
    for name, value in (
        ("namespace", namespace),
        ("project", project),
        ("agent", agent),
        ("session", session),
    ):
        if value is not None:
            params.append((name, value))
    return params


@dataclass
class Follower:
    """Follow the event stream of one server, reconnecting and resuming until cancelled.

    `on_status(kind, detail)` hears about reconnects (`disconnected`, `dropped`, `connected`);
    `resync` messages are yielded like events so the caller can warn. Domain errors (401, 403,
    422) are raised: retrying cannot fix them.
    """

    url: str
    headers: Mapping[str, str]
    params: list[tuple[str, str]]
    last_id: str | None = None
    base_delay: float = 0.2
    max_delay: float = 5.0
    on_status: Callable[[str, str], object] | None = None
    client: httpx.AsyncClient | None = None
    #: Raise `ServerUnreachable` if the very first connection fails (a wrong URL, say),
    #: instead of retrying forever; once connected, a lost connection is always retried.
    fail_fast: bool = False
    connected: bool = False

    def _status(self, kind: str, detail: str) -> None:
        if self.on_status is not None:
            self.on_status(kind, detail)

    async def __aiter__(self) -> AsyncIterator[SseMessage]:
        own = self.client is None
        client = self.client or httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None))
        failures = 0
        try:
            while True:
                try:
                    async for message in self._once(client):
                        failures = 0
                        yield message
                    self._status("disconnected", "the server closed the stream")
                except (httpx.HTTPError, ServerUnreachable) as exc:
                    if self.fail_fast and not self.connected:
                        if isinstance(exc, ServerUnreachable):
                            raise
                        raise ServerUnreachable(
                            f"cannot stream events from {self.url}: {exc or type(exc).__name__}",
                            url=self.url,
                        ) from exc
                    self._status("disconnected", str(exc) or type(exc).__name__)
                failures += 1
                ceiling = backoff_ceiling(failures, self.base_delay, self.max_delay)
                await asyncio.sleep(ceiling * (0.5 + random.random() / 2))
        finally:
            if own:
                await client.aclose()

    async def _once(self, client: httpx.AsyncClient) -> AsyncIterator[SseMessage]:
        headers = {**self.headers, "Accept": "text/event-stream"}
        if self.last_id is not None:
            headers["Last-Event-ID"] = self.last_id
        url = self.url.rstrip("/") + STREAM_PATH
        async with client.stream(
            "GET", url, params=tuple(self.params), headers=headers
        ) as response:
            if not response.is_success:
                await response.aread()
                error = error_from_response(response)
                if response.status_code >= 500:
                    raise ServerUnreachable(error.message)
                raise error
            self.connected = True
            self._status("connected", self.last_id or "")
            parser = SseParser(last_id=self.last_id)
            async for message in messages(response, parser):
                if message.event == "dropped":
                    hint = message.json() or {}
                    self.last_id = str(hint.get("resume_after", self.last_id or ""))
                    self._status("dropped", self.last_id)
                    return
                if message.id is not None:
                    self.last_id = message.id
                yield message


__all__ = [
    "Follower",
    "SseMessage",
    "SseParser",
    "messages",
    "stream_params",
]
