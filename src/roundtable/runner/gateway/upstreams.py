"""Connections to upstream MCP servers, held by the runner.

A connection is keyed by (session, server): runs of one session reuse it (a stdio server keeps
its state between a session's runs), other sessions get their own. Each is an official MCP SDK
`Client` entered and left in its own task (the SDK's transports need that). Connections idle for
`idle_seconds` are closed (a stdio server is stopped). A connection whose call fails at the
transport (e.g. the stdio process died) is dropped, so the next use starts it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

import httpx2
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from roundtable.runner.gateway.credentials import UpstreamAuth

log = logging.getLogger("roundtable.runner.gateway")

Header = Callable[[bool], Awaitable[tuple[str, str] | None]]


class UpstreamError(RuntimeError):
    """An upstream could not be reached or broke mid-call (the message says which)."""


@dataclass
class Target:
    """How to reach one upstream for one run: its entry, the auth header and stdio env."""

    name: str
    entry: dict[str, Any]
    header: Header | None = None
    env: dict[str, str] = field(default_factory=dict)


class Connection:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.client: Client | None = None
        self.used = time.monotonic()
        self.busy = 0
        #: Tool name -> input schema from this upstream's last listing (the gateway validates
        #: a call's `Mcp-Param-*` headers against it instead of listing upstream per call).
        self.input_schemas: dict[str, Any] | None = None
        self._ready = asyncio.Event()
        self._done = asyncio.Event()
        self._error: BaseException | None = None
        self._task = asyncio.create_task(self._hold(), name=f"mcp-upstream-{target.name}")

    def _transport(self) -> tuple[AbstractAsyncContextManager[Any], httpx2.AsyncClient | None]:
        entry = self.target.entry
        if entry["transport"] == "stdio":
            env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
            params = StdioServerParameters(
                command=entry["command"], args=list(entry.get("args") or []),
                env={**env, **self.target.env},
            )  # fmt: skip
            return stdio_client(params), None
        auth = UpstreamAuth(self._header) if self.target.header else None
        http = httpx2.AsyncClient(auth=auth, timeout=httpx2.Timeout(30, read=300))
        return streamable_http_client(entry["url"], http_client=http), http

    async def _header(self, fresh: bool) -> tuple[str, str] | None:
        """The current run's credential (a reused connection serves later runs too)."""
        return await self.target.header(fresh) if self.target.header else None

    async def _hold(self) -> None:
        http: httpx2.AsyncClient | None = None
        try:
            transport, http = self._transport()
            async with Client(transport, read_timeout_seconds=300) as client:
                self.client = client
                self._ready.set()
                await self._done.wait()
        except BaseException as exc:  # reported to the waiting caller, not raised here
            self._error = exc
        finally:
            self.client = None
            self._ready.set()
            if http is not None:
                await http.aclose()

    async def ready(self) -> Client:
        await self._ready.wait()
        if self.client is None:
            raise UpstreamError(
                f"MCP server {self.target.name!r} could not be started or reached: "
                f"{_describe(self._error)}"
            )
        return self.client

    @property
    def alive(self) -> bool:
        return not self._task.done()

    async def close(self) -> None:
        self._done.set()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.shield(self._task), timeout=5)
        if not self._task.done():
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task


def _describe(error: BaseException | None) -> str:
    if error is None:
        return "closed"
    if isinstance(error, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in error.exceptions)
    return f"{type(error).__name__}: {error}"


class UpstreamPool:
    def __init__(self, idle_seconds: float = 300.0) -> None:
        self.idle_seconds = idle_seconds
        self._conns: dict[tuple[str, str], Connection] = {}
        self._lock = asyncio.Lock()
        self._reaper: asyncio.Task[None] | None = None

    async def get(self, key: tuple[str, str], target: Target) -> Connection:
        async with self._lock:
            conn = self._conns.get(key)
            if conn is None or not conn.alive:
                conn = Connection(target)
                self._conns[key] = conn
            else:
                conn.target = target  # this run's credentials and env
            if self._reaper is None:
                self._reaper = asyncio.create_task(self._reap(), name="mcp-upstream-reaper")
        conn.used = time.monotonic()
        return conn

    def peek(self, key: tuple[str, str]) -> Connection | None:
        """The live connection for `key`, if any (never starts one)."""
        conn = self._conns.get(key)
        return conn if conn is not None and conn.alive else None

    async def drop(self, key: tuple[str, str], conn: Connection) -> None:
        async with self._lock:
            if self._conns.get(key) is conn:
                del self._conns[key]
        await conn.close()

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(min(self.idle_seconds / 2, 30))
            now = time.monotonic()
            idle = [
                (k, c)
                for k, c in list(self._conns.items())
                if c.busy == 0 and now - c.used > self.idle_seconds
            ]
            for key, conn in idle:
                log.info("closing idle MCP upstream %s (session %s)", key[1], key[0])
                await self.drop(key, conn)

    async def aclose(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        for key, conn in list(self._conns.items()):
            await self.drop(key, conn)
