"""An exclusive `flock` taken from async code without parking a thread.

Rotation and the Markdown mirror serialise processes that share the data directory with lock
files. Waiting is a poll of non-blocking `flock` attempts with `asyncio.sleep` in between, so a
cancelled waiter never leaves a thread behind that later takes the lock and never releases it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from pathlib import Path

#: Seconds between attempts while another process holds the lock.
POLL = 0.01


@contextlib.asynccontextmanager
async def locked(path: Path) -> AsyncIterator[None]:
    """Hold an exclusive lock on `path` (created if missing) for the block."""
    fd = await asyncio.to_thread(os.open, path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(POLL)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
