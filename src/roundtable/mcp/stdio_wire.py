"""The MCP session's streams over `Pipes`: Roundtable's own stdio transport (issue 16).

It keeps what the SDK's `stdio_server` does (one JSON-RPC message per line, UTF-8, answers
serialised `by_alias` without unset fields) at a fraction of its per-message cost: a line
arrives on the loop with one hand-off from the reader thread and is parsed once
(`jsonrpc_guard.parse_line`: a malformed one is answered with a JSON-RPC error and a line on
stderr, and the connection stays up); an answer is serialised on the loop and queued for the
writer thread, in order, without the loop waiting for the write. When more than
`pipes.MAX_BACKLOG_BYTES` wait (the client stopped reading), senders wait for room.
"""

from __future__ import annotations

import asyncio
import sys
from abc import ABC, abstractmethod
from collections import deque
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import anyio
import mcp_types as types
from mcp.server.mcpserver import MCPServer
from mcp.shared.message import SessionMessage

from roundtable.mcp.jsonrpc_guard import parse_line
from roundtable.mcp.pipes import MAX_BACKLOG_BYTES, Pipes

if TYPE_CHECKING:
    from roundtable.mcp.front import Front


class _Stream(ABC):
    """`async with` closes the stream, as the SDK's memory streams do."""

    @abstractmethod
    async def aclose(self) -> None:
        """Close the stream (what each kind of stream does on close)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class Inbox(_Stream):
    """The session's read stream: messages from stdin, in order; ends with stdin."""

    def __init__(self, pipes: Pipes, outbox: Outbox) -> None:
        self._pipes = pipes
        self._outbox = outbox
        self._items: deque[SessionMessage] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._ended = False
        self._closed = False

    def take(self, raw: bytes) -> None:
        """One line from the reader thread (b"": stdin ended), on the loop."""
        if not raw:
            self._ended = True
        else:
            stripped = raw.strip()
            if not stripped:
                return
            message, error = parse_line(stripped)
            if error is not None:
                print(
                    f"roundtable mcp: refused a message ({error.error.code}): "
                    f"{error.error.message}",
                    file=sys.stderr,
                    flush=True,
                )
                self._outbox.put(SessionMessage(error))
                return
            assert message is not None
            self._items.append(SessionMessage(message))
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def receive(self) -> SessionMessage:
        while not self._items:
            if self._closed:
                raise anyio.ClosedResourceError
            if self._ended:
                raise anyio.EndOfStream
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()

    def __aiter__(self) -> Inbox:
        return self

    async def __anext__(self) -> SessionMessage:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        self._closed = True
        self._pipes.detach()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class Outbox(_Stream):
    """The session's write stream: each message serialised and queued for the writer thread."""

    def __init__(self, pipes: Pipes, front: Front | None) -> None:
        self._pipes = pipes
        self._front = front
        self._closed = False

    def put(self, item: SessionMessage) -> int:
        """Queue `item`; the bytes now waiting to be written."""
        message = item.message
        if (
            self._front is not None
            and isinstance(message, types.JSONRPCResponse | types.JSONRPCError)
            and self._front.swallows(
                message.id, message.error if isinstance(message, types.JSONRPCError) else None
            )
        ):
            return 0
        data = message.model_dump_json(by_alias=True, exclude_unset=True).encode() + b"\n"
        return self._pipes.write(data)

    async def send(self, item: SessionMessage, /) -> None:
        if self._closed:
            raise anyio.ClosedResourceError
        if self.put(item) > MAX_BACKLOG_BYTES:
            loop = asyncio.get_running_loop()
            room = loop.create_future()

            def ready() -> None:
                loop.call_soon_threadsafe(_resolve, room)

            self._pipes.when_below(MAX_BACKLOG_BYTES, ready)
            await room

    async def aclose(self) -> None:
        self._closed = True


def _resolve(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_result(None)


async def run_stdio(server: MCPServer[Any], pipes: Pipes, front: Front | None = None) -> None:
    """Serve `server`'s session over `pipes` until stdin ends (as `server.run_stdio_async()`
    would, on Roundtable's transport); answers still queued are written before it returns."""
    outbox = Outbox(pipes, front)
    inbox = Inbox(pipes, outbox)
    pipes.attach(inbox.take)
    lowlevel = server._lowlevel_server  # the SDK's own run_stdio_async does the same
    try:
        await lowlevel.run(inbox, outbox, lowlevel.create_initialization_options())
    finally:
        pipes.detach()
        await asyncio.get_running_loop().run_in_executor(None, pipes.flush)
