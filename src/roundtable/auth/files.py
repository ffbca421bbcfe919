"""Secret files in the data directory: created once with mode 0600, safely under races."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def read_or_create(path: Path, make: Callable[[], bytes]) -> bytes:
    """Return the file's bytes, creating it with `make()` (mode 0600) if it does not exist.

    The bytes are written and fsynced in a private temporary file, then hard-linked into place:
    `link` fails if the name exists, so concurrent first starts agree on one file, and nobody
    can ever read it half-written.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.exists():
        return _read(path)
    data = make()
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temp, path)
        except FileExistsError:
            return _read(path)  # another process created it first: use theirs
        _fsync_dir(path.parent)
        return data
    finally:
        os.unlink(temp)


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    if not data:
        raise RuntimeError(f"{path} exists but is empty; delete it to regenerate")
    return data


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
