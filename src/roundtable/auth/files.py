"""Secret files in the data directory: created once with mode 0600, safely under races."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path


def read_or_create(path: Path, make: Callable[[], bytes]) -> bytes:
    """Return the file's bytes, creating it with `make()` (mode 0600) if it does not exist.

    `O_EXCL` makes concurrent first starts agree: one process writes, the others read its file.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(200):  # the creating process may still be writing it
            data = path.read_bytes()
            if data:
                return data
            time.sleep(0.01)
        raise RuntimeError(f"{path} exists but is empty; delete it to regenerate") from None
    data = make()
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return data
