"""`roundtable mcp`'s own stdio transport (`pipes`, `stdio_wire`) on real pipes: lines reach the
loop in order (those read before the server attached first), answers leave in order, and a
client that stops reading makes senders wait instead of growing an unbounded backlog."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
from collections.abc import Iterator

import mcp_types as types
import pytest
from mcp.shared.message import SessionMessage

from roundtable.mcp import pipes as pipes_module
from roundtable.mcp.pipes import MAX_BACKLOG_BYTES, Pipes
from roundtable.mcp.stdio_wire import Outbox

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])  # no storage involved


@pytest.fixture
def wired() -> Iterator[tuple[Pipes, int, int]]:
    """Pipes on two fresh pipes; yields them with the client's ends (write to in, read out)."""
    in_read, in_write = os.pipe()
    out_read, out_write = os.pipe()
    pipes = Pipes((in_read, out_write))
    pipes.start()
    try:
        yield pipes, in_write, out_read
    finally:
        for fd in (in_write, out_read):
            with contextlib.suppress(OSError):
                os.close(fd)


async def test_lines_reach_the_loop_in_order(backend: str, wired: tuple[Pipes, int, int]) -> None:
    pipes, client_in, _ = wired
    for i in range(3):
        os.write(client_in, b'{"n": %d}\n' % i)
    await asyncio.sleep(0.1)  # read before anyone attached: kept
    got: list[bytes] = []
    ended = asyncio.Event()

    def take(raw: bytes) -> None:
        if raw:
            got.append(raw)
        else:
            ended.set()

    pipes.attach(take)
    for i in range(3, 200):
        os.write(client_in, b'{"n": %d}\n' % i)
        if i % 50 == 0:
            await asyncio.sleep(0.01)
    os.write(client_in, b'{"n": 2')  # a line in two reads
    await asyncio.sleep(0.05)
    os.write(client_in, b'00}\n{"n": 201}\n{"n": 20')
    await asyncio.sleep(0.05)
    os.write(client_in, b"2}")  # a last line without its newline
    os.close(client_in)
    await asyncio.wait_for(ended.wait(), 30)
    assert [json.loads(line)["n"] for line in got] == list(range(203))
    assert pipes._on_loop  # the loop took over reading the pipe from the thread


def _draining(fd: int, lines: int, into: bytearray) -> threading.Thread:
    """A started thread reading `fd` (as the client does) into `into` until `lines` lines."""

    def drain() -> None:
        while chunk := os.read(fd, 1 << 16):
            into.extend(chunk)
            if into.count(b"\n") == lines:
                return

    reader = threading.Thread(target=drain)
    reader.start()
    return reader


def _answer(i: int, size: int) -> SessionMessage:
    result = {"n": i, "pad": "x" * size}
    return SessionMessage(types.JSONRPCResponse(jsonrpc="2.0", id=i, result=result))


async def test_a_client_that_stops_reading_makes_senders_wait(
    backend: str, wired: tuple[Pipes, int, int]
) -> None:
    pipes, _, client_out = wired
    outbox = Outbox(pipes, None)
    size = 1024 * 1024
    count = 3 * MAX_BACKLOG_BYTES // size

    async def send_all() -> None:
        for i in range(count):
            await outbox.send(_answer(i, size))

    sending = asyncio.ensure_future(send_all())
    await asyncio.sleep(0.5)
    assert not sending.done()  # waiting for room: the client reads nothing
    assert pipes.backlog <= MAX_BACKLOG_BYTES + 2 * size

    received = bytearray()
    reader = _draining(client_out, count, received)
    await asyncio.wait_for(sending, 60)
    await asyncio.get_running_loop().run_in_executor(None, reader.join, 60)
    answers = [json.loads(line) for line in bytes(received).splitlines()]
    assert [a["id"] for a in answers] == list(range(count))
    assert all(len(a["result"]["pad"]) == size for a in answers)


async def test_small_and_large_answers_leave_in_order(
    backend: str, wired: tuple[Pipes, int, int]
) -> None:
    """Small answers are written at once when the pipe has room, large ones by the writer
    thread: the order on the wire is still the order they were sent in."""
    pipes, _, client_out = wired
    outbox = Outbox(pipes, None)
    count = 60
    received = bytearray()
    reader = _draining(client_out, count, received)
    for i in range(count):
        await outbox.send(_answer(i, 200_000 if i % 3 == 0 else 10))
    await asyncio.get_running_loop().run_in_executor(None, reader.join, 60)
    assert [json.loads(line)["id"] for line in bytes(received).splitlines()] == list(range(count))


async def test_a_line_over_the_limit_is_refused_as_it_arrives(
    backend: str, wired: tuple[Pipes, int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line longer than MAX_LINE_BYTES is never held whole: what arrived of it is dropped,
    the client gets -32600 with a null id, and the lines around it arrive intact."""
    limit = 4096
    monkeypatch.setattr(pipes_module, "MAX_LINE_BYTES", limit)
    pipes, client_in, client_out = wired
    got: list[bytes] = []
    pipes.attach(lambda raw: got.append(raw))
    os.write(client_in, b'{"n": 0}\n')
    for _ in range(3000):  # the thread reads that line, then the loop takes over reading
        if pipes._on_loop:
            break
        await asyncio.sleep(0.01)
    assert pipes._on_loop  # so each read below is handled whole before `held` looks
    held: list[int] = []
    os.write(client_in, b'{"pad": "')
    for _ in range(40):  # one line of ~40 limits, in pieces
        os.write(client_in, b"x" * 1000)
        await asyncio.sleep(0.002)
        held.append(len(pipes._partial))
    os.write(client_in, b'"}\n{"n": 1}\n')
    os.write(client_in, b'{"pad": "' + b"y" * (2 * limit) + b'"}\n{"n": 2}\n')  # in one read
    received = bytearray()
    reader = _draining(client_out, 2, received)
    await asyncio.get_running_loop().run_in_executor(None, reader.join, 30)
    await asyncio.sleep(0.05)
    assert [json.loads(line) for line in got] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert max(held) <= limit + 1000, "no more than the limit of a line is ever held"
    errors = [json.loads(line) for line in bytes(received).splitlines()]
    assert (
        errors
        == [
            {
                "jsonrpc": "2.0",
                "id": None,
                "error": {"code": -32600, "message": f"message over {limit} bytes"},
            }
        ]
        * 2
    )
