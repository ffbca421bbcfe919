"""The wire of `roundtable mcp`: stdin and stdout, owned by two threads, standard library only.

Issue 16: the SDK's stdio transport cost several thread round trips per message (each line read
through a worker thread, each answer written and flushed through one each). Here a reader
thread reads lines (buffered) and hands each to the event loop with one
`call_soon_threadsafe`; answers are queued for a writer thread that writes them in order, so
the loop never waits for a write. A client that stops reading gets backpressure: once more
than `MAX_BACKLOG_BYTES` wait to be written, senders wait (`when_below`) instead of the queue
growing without bound. Inbound, a line is held only up to `MAX_LINE_BYTES`: a longer one is
dropped as it arrives (nothing more of it is kept) and answered with a JSON-RPC error.

Lines read before a consumer attaches (the fast front reads while the server is still being
imported) are kept and handed over, in order, when it does. Nothing here imports more than the
standard library, so the fast front (`front`) can start it first thing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import sys
import termios
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

#: Answers waiting for the writer beyond this many bytes make senders wait.
MAX_BACKLOG_BYTES = 4 * 1024 * 1024
#: The longest line (one JSON-RPC message) taken in; far above the largest append batch.
MAX_LINE_BYTES = 64 * 1024 * 1024
#: What a longer line is answered with: JSON-RPC's "invalid request", its id unread.
_TOO_LONG = (
    b'{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"message over %d bytes"}}\n'
)

_FOUR_BYTES = bytes(4)
#: How much one read of stdin takes at most.
_CHUNK = 1 << 16


def _pollable(fd: int) -> bool:
    """Whether the event loop can wait for `fd` to be readable: pipes and sockets (epoll refuses
    regular files, and a terminal is left to the thread)."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _pipe_size(fd: int) -> int:
    """The capacity of the pipe `fd` writes to (Linux), or 0 when it is no pipe or unknown."""
    try:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return 0
        return int(fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ))
    except (OSError, AttributeError):
        return 0


class Pipes:
    """Owns the process's stdin and stdout for the life of `roundtable mcp`."""

    def __init__(self, fds: tuple[int, int] | None = None) -> None:
        """On the process's stdin and stdout, or on the descriptors `fds` (in, out) given."""
        self._lock = threading.RLock()
        if fds is None:
            # Like the SDK's stdio transport: keep the wire on private descriptors, and point
            # fd 0 at /dev/null and fd 1 at stderr so stray reads and prints cannot corrupt it.
            fds = os.dup(0), os.dup(1)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.close(null)
            os.dup2(2, 1)
        self._in = fds[0]
        self._out = fds[1]
        # Inbound: bytes of a line not complete yet, lines not yet handed over, who takes them
        # (on which loop), and whether the loop reads stdin itself now (`attach`).
        self._partial = bytearray()
        self._dropping = False  # inside a line over MAX_LINE_BYTES: skip to its end
        self._backlog: deque[bytes] = deque()
        self._consumer: Callable[[bytes], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pollable = _pollable(self._in)
        self._handover = False  # the reader thread is to leave stdin to the loop
        self._on_loop = False  # the loop reads stdin (add_reader)
        self._closed = threading.Event()  # stdin reached its end
        # Outbound: chunks for the writer thread, their size, and who waits for room.
        self._written = threading.Condition(threading.Lock())
        self._chunks: list[bytes] = []
        self._pending = 0
        self._room_waiters: list[tuple[int, Callable[[], None]]] = []
        self._broken = False  # the client closed its end of stdout
        self._pipe_size = _pipe_size(self._out)
        self._reader = threading.Thread(target=self._read, name="mcp-stdin", daemon=True)
        self._writer = threading.Thread(target=self._write_out, name="mcp-stdout", daemon=True)

    def start(self) -> None:
        self._writer.start()
        self._reader.start()

    # -- inbound ---------------------------------------------------------------------------------

    def _read(self) -> None:
        """The reader thread: until a loop attaches (and can wait for stdin itself), or the end."""
        try:
            while chunk := os.read(self._in, _CHUNK):
                for line in self._lines(chunk):
                    self._take(line)
                with self._lock:
                    if self._handover and self._loop is not None:
                        self._loop.call_soon_threadsafe(self._read_on_loop, self._loop)
                        return
        except OSError as exc:
            print(f"roundtable mcp: cannot read stdin: {exc}", file=sys.stderr, flush=True)
        except RuntimeError:  # the loop it was to hand over to closed: nothing reads any more
            return
        self._end()

    def _read_on_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """From now on the loop reads stdin when it is readable (no thread hand-off per line)."""
        with self._lock:
            self._on_loop = True
        loop.add_reader(self._in, self._readable, loop)

    def _readable(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            chunk = os.read(self._in, _CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:
            print(f"roundtable mcp: cannot read stdin: {exc}", file=sys.stderr, flush=True)
            chunk = b""
        if not chunk:
            loop.remove_reader(self._in)
            self._end()
            return
        for line in self._lines(chunk):
            self._take(line)

    def _lines(self, chunk: bytes) -> list[bytes]:
        """The lines `chunk` completes (each with its newline); the rest waits for more. A line
        over `MAX_LINE_BYTES` is refused instead, without being held whole."""
        if self._dropping:
            end = chunk.find(b"\n")
            if end < 0:
                return []
            self._dropping = False
            chunk = chunk[end + 1 :]
        if (
            not self._partial
            and chunk.endswith(b"\n")
            and chunk.count(b"\n") == 1
            and len(chunk) <= MAX_LINE_BYTES + 1
        ):
            return [chunk]  # the usual case: one whole request
        self._partial += chunk
        if b"\n" not in chunk:  # a long line goes on (split only once its end arrives)
            if len(self._partial) > MAX_LINE_BYTES:
                self._drop_partial()
            return []
        *complete, rest = self._partial.split(b"\n")
        self._partial = bytearray(rest)
        lines = []
        for line in complete:
            if len(line) > MAX_LINE_BYTES:
                self._refuse_too_long()
            else:
                lines.append(bytes(line) + b"\n")
        if len(self._partial) > MAX_LINE_BYTES:
            self._drop_partial()
        return lines

    def _drop_partial(self) -> None:
        """The line being read is over the limit before its end: refuse it, skip to its end."""
        self._partial = bytearray()
        self._dropping = True
        self._refuse_too_long()

    def _refuse_too_long(self) -> None:
        print(
            f"roundtable mcp: refused a message over {MAX_LINE_BYTES} bytes",
            file=sys.stderr,
            flush=True,
        )
        self.write(_TOO_LONG % MAX_LINE_BYTES)

    def _end(self) -> None:
        """Stdin ended: a last line without a newline, then the end (b"")."""
        if self._partial:
            line, self._partial = bytes(self._partial), bytearray()
            self._take(line)
        self._deliver(b"")
        self._closed.set()

    def _take(self, raw: bytes) -> None:
        """One line read (the front answers some itself)."""
        self._deliver(raw)

    def _deliver(self, raw: bytes) -> None:
        """Hand `raw` (b"" at the end of stdin) to the consumer, or keep it until one attaches."""
        with self._lock:
            consumer, loop = self._consumer, self._loop
            if consumer is None or loop is None:
                self._backlog.append(raw)
                return
            if not self._on_loop:
                try:
                    loop.call_soon_threadsafe(consumer, raw)
                except RuntimeError:  # the loop closed under us: keep the line
                    self._consumer = self._loop = None
                    self._backlog.append(raw)
                return
        consumer(raw)  # on the loop already

    def attach(self, consumer: Callable[[bytes], None]) -> None:
        """Call `consumer` on the running loop with each line (b"" once stdin ends), starting
        with those read so far. Where stdin can be polled (a pipe, a socket), the
        loop then reads it itself once the reader thread's current read returns."""
        import asyncio  # here: the front starts before anything heavier is imported

        loop = asyncio.get_running_loop()
        with self._lock:
            while self._backlog:
                loop.call_soon(consumer, self._backlog.popleft())
            self._consumer, self._loop = consumer, loop
            self._handover = self._pollable

    def detach(self) -> None:
        """Keep lines read from now on until someone attaches again (or the front refuses them)."""
        with self._lock:
            self._consumer = self._loop = None

    def wait_closed(self) -> None:
        """Until the client closes stdin."""
        self._closed.wait()

    # -- outbound --------------------------------------------------------------------------------

    def write(self, data: bytes) -> int:
        """Queue `data` (whole messages) for the writer; the bytes now waiting to be written.

        When nothing is queued and stdout is a pipe with room for all of `data`, it is written
        at once instead: only this process writes to the pipe and the client's reads only make
        room, so that write cannot block (and the writer thread need not wake)."""
        with self._written:
            if self._broken:
                return 0
            if not self._chunks and not self._pending and self._room() >= len(data):
                try:
                    written = os.write(self._out, data)
                except OSError as exc:
                    self._break(exc)
                    return 0
                if written == len(data):
                    return 0
                data = data[written:]
            self._chunks.append(data)
            self._pending += len(data)
            self._written.notify()
            return self._pending

    def _room(self) -> int:
        """Bytes stdout's pipe takes without blocking (0 if it is not a pipe we can measure)."""
        if self._pipe_size <= 0:
            return 0
        try:
            unread = fcntl.ioctl(self._out, termios.FIONREAD, _FOUR_BYTES)
        except OSError:
            self._pipe_size = 0
            return 0
        return self._pipe_size - int.from_bytes(unread, sys.byteorder)

    def _break(self, exc: OSError) -> None:
        """The client closed its end of stdout: drop what waits, release the waiting senders
        (called holding `_written`)."""
        if not self._broken:
            print(f"roundtable mcp: cannot write stdout: {exc}", file=sys.stderr, flush=True)
        self._broken = True
        self._chunks.clear()
        self._pending = 0
        self._written.notify_all()

    @property
    def backlog(self) -> int:
        """Bytes queued and not yet written."""
        return self._pending

    def when_below(self, limit: int, callback: Callable[[], None]) -> None:
        """Call `callback` (from any thread) once no more than `limit` bytes wait to be written."""
        with self._written:
            if self._pending > limit and not self._broken:
                self._room_waiters.append((limit, callback))
                return
        callback()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued is written (or the client stopped reading)."""
        with self._written:
            return self._written.wait_for(lambda: self._pending == 0 or self._broken, timeout)

    def _write_out(self) -> None:
        while True:
            with self._written:
                while not self._chunks:
                    self._written.wait()
                chunks, self._chunks = self._chunks, []
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._out, view) :]
            except OSError as exc:
                with self._written:
                    self._break(exc)
            with self._written:
                self._pending = max(0, self._pending - len(data))
                ready = [cb for limit, cb in self._room_waiters if self._pending <= limit]
                if ready:
                    self._room_waiters = [
                        (limit, cb) for limit, cb in self._room_waiters if self._pending > limit
                    ]
                self._written.notify_all()
            for callback in ready:
                with contextlib.suppress(Exception):
                    callback()
