"""Trust anchors outside the database (D16): the checkpoints this data directory's keys signed.

Every checkpoint the server signs is also appended, after its transaction commits, to
`DATA_DIR/anchors/<namespace>/<project>.jsonl` (mode 0600, one JSON object a line: `size`,
`root` hex, `key_id`, `note`, `signed_at`). The file is only ever appended to, under an
exclusive `flock`, and fsynced. Someone who can write the database but not the data directory
cannot change it, so:

- `verify` checks the journal against every record: each root must be the tree's at that size,
  each must still be in the `checkpoints` table, and none may lie beyond the head;
- the signer refuses a root that is not consistent (RFC 9162 consistency proof) with the largest
  checkpoint in this file, so a rewritten journal is never signed with our key.

Records are written after the commit, so the file is a subset of what the database holds (a
crash in between loses a record, never invents one). Processes sharing the data directory may
append out of size order; readers take the file as a set.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roundtable.journal.models import Checkpoint


@dataclass(frozen=True)
class Anchor:
    """One checkpoint we signed, as the anchor file records it."""

    size: int
    root: str  # hex
    key_id: str
    note: str
    line: int = 0  # 1-based line in the file (0: not from a file)

    @classmethod
    def of(cls, checkpoint: Checkpoint) -> Anchor:
        return cls(checkpoint.size, checkpoint.root, checkpoint.key_id, checkpoint.note)


class AnchorError(Exception):
    """A line of an anchor file is not a record (only someone with the data directory can)."""

    def __init__(self, path: Path, line: int, detail: str) -> None:
        super().__init__(f"{path}: line {line}: {detail}")
        self.path, self.line = path, line


class AnchorLog:
    """The anchor files of one data directory, with a cache of each journal's largest record."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "anchors"
        self._latest: dict[Path, tuple[int, Anchor | None]] = {}  # by file size read

    def path(self, namespace: str, project: str) -> Path:
        return self.root / namespace / f"{project}.jsonl"

    def records(self, namespace: str, project: str) -> list[Anchor]:
        """Every record, in file order. A torn last line (a crash mid-write) is ignored; any
        other line that is not a record raises `AnchorError`."""
        path = self.path(namespace, project)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return []
        return _parse(path, data)

    def latest(self, namespace: str, project: str) -> Anchor | None:
        """The record with the largest size (what the next checkpoint must be consistent with)."""
        path = self.path(namespace, project)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return None
        cached = self._latest.get(path)
        if cached is not None and cached[0] == size:
            return cached[1]
        records = self.records(namespace, project)
        best = max(records, key=lambda a: a.size, default=None)
        self._latest[path] = (size, best)
        return best

    def append(self, namespace: str, project: str, checkpoint: Checkpoint) -> None:
        """Append one record durably (O_APPEND, flock, fsync); directories are created 0700."""
        path = self.path(namespace, project)
        new_dir = not path.parent.exists()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        record = {
            "size": checkpoint.size,
            "root": checkpoint.root,
            "key_id": checkpoint.key_id,
            "note": checkpoint.note,
            "signed_at": checkpoint.created_at.isoformat(),
        }
        line = (json.dumps(record, sort_keys=True) + "\n").encode()
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            end = os.lseek(fd, 0, os.SEEK_END)
            if end and _last_byte(fd, end) != b"\n":
                os.write(fd, b"\n")  # a torn line from a crash stays torn, never merged
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        if new_dir:
            _fsync_dir(path.parent)


def _last_byte(fd: int, end: int) -> bytes:
    return os.pread(fd, 1, end - 1)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _parse(path: Path, data: bytes) -> list[Anchor]:
    lines = data.split(b"\n")
    lines.pop()  # after the last newline: empty, or a write cut short (ignored)
    found = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue  # the separator written after a torn line
        try:
            value: Any = json.loads(raw)
            anchor = Anchor(
                size=int(value["size"]),
                root=str(value["root"]),
                key_id=str(value["key_id"]),
                note=str(value["note"]),
                line=number,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise AnchorError(path, number, f"not a checkpoint record ({exc})") from None
        if anchor.size < 0 or len(anchor.root) != 64:
            raise AnchorError(path, number, "not a checkpoint record (size or root)")
        found.append(anchor)
    return found
