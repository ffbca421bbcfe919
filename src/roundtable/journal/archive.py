"""Segment archives on disk (D5): where they live, how they are written, how they are read.

A sealed segment N of project P in namespace NS is two files under the data directory:

- `archives/NS/P/segment-00000N.jsonl.gz`: gzip (mtime 0, no file name, level 6, so the same
  entries always give the same bytes and a rerun after a crash rewrites identical bytes), one
  line per entry holding exactly the entry's RFC 8785 canonical bytes as hashed, then "\\n".
  Line i is seq first_seq + i, so a line's SHA-256 is the entry's `hash` and
  SHA-256(0x00 || line) its Merkle leaf.
- `archives/NS/P/segment-00000N.md`: the same entries as Markdown mirror lines (for people).

Every file is written to a temp file in the same directory, fsynced, renamed over its final name
and the directory fsynced, so a crash leaves either the old file or the complete new one.
Archives are projections of the database (D1) that the rotation entry pins by SHA-256: reading a
body back from one (after retention pruned it) is checked against the entry's hash.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

#: Digits of the segment number in archive file names.
SEGMENT_DIGITS = 6
#: gzip level: deterministic for a given zlib; 6 is zlib's default speed/size trade-off.
GZIP_LEVEL = 6


def archive_dir(data_dir: Path, namespace: str, project: str) -> Path:
    """`DATA_DIR/archives/NS/PROJECT` (names are validated identifiers: no separators)."""
    return data_dir / "archives" / namespace / project


def archive_name(number: int) -> str:
    return f"segment-{number:0{SEGMENT_DIGITS}d}.jsonl.gz"


def markdown_name(number: int) -> str:
    return f"segment-{number:0{SEGMENT_DIGITS}d}.md"


def fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable (POSIX: the directory entry is its own write)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_path(final: Path) -> Path:
    """The fixed temp name beside `final`: a rerun after a crash overwrites the same file."""
    return final.with_name(f".{final.name}.tmp")


def publish(temp: Path, final: Path) -> None:
    """Rename a fully written and fsynced temp file over `final`, durably."""
    os.replace(temp, final)
    fsync_dir(final.parent)


class _HashingSink:
    """A binary sink that hashes what passes through (the archive digest, in one pass)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.sha.update(chunk)
        self.size += len(chunk)
        return self.raw.write(chunk)

    def flush(self) -> None:
        self.raw.flush()


class SegmentWriter:
    """Streams one segment's entries into its archive and Markdown temp files.

    `add` takes each entry's canonical bytes and its Markdown line, in seq order; `close` ends
    the gzip stream, fsyncs both temp files and returns the archive's SHA-256. `publish` then
    renames both into place. Nothing is visible under the final names until `publish`.
    """

    def __init__(self, directory: Path, number: int, markdown_header: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.archive = directory / archive_name(number)
        self.markdown = directory / markdown_name(number)
        self._archive_tmp = temp_path(self.archive)
        self._markdown_tmp = temp_path(self.markdown)
        self._raw = open(self._archive_tmp, "wb")  # noqa: SIM115 - closed in close()/abort()
        self._sink = _HashingSink(self._raw)
        self._gzip = gzip.GzipFile(
            filename="", mode="wb", fileobj=self._sink, mtime=0, compresslevel=GZIP_LEVEL
        )
        self._md = open(self._markdown_tmp, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        self._md.write(markdown_header)
        self.count = 0

    def add(self, canonical: bytes, markdown_line: str) -> None:
        self._gzip.write(canonical + b"\n")
        self._md.write(markdown_line + "\n")
        self.count += 1

    def close(self) -> str:
        """Finish and fsync both temp files; the archive's SHA-256 (hex)."""
        self._gzip.close()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()
        self._md.flush()
        os.fsync(self._md.fileno())
        self._md.close()
        return self._sink.sha.hexdigest()

    def abort(self) -> None:
        for handle in (self._gzip, self._raw, self._md):
            handle.close()
        for path in (self._archive_tmp, self._markdown_tmp):
            path.unlink(missing_ok=True)

    def publish(self) -> None:
        publish(self._archive_tmp, self.archive)
        publish(self._markdown_tmp, self.markdown)


def file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def read_lines(path: Path) -> Iterator[bytes]:
    """The canonical entries of an archive, in seq order, without their newline."""
    with gzip.open(path, "rb") as handle:
        for line in handle:
            yield line[:-1] if line.endswith(b"\n") else line


def read_range(path: Path, first_seq: int, wanted: set[int]) -> dict[int, bytes]:
    """Canonical bytes of the `wanted` seqs from the archive whose first line is `first_seq`.

    Lines are in seq order, so reading stops after the last wanted one.
    """
    found: dict[int, bytes] = {}
    if not wanted:
        return found
    last = max(wanted)
    for offset, line in enumerate(read_lines(path)):
        seq = first_seq + offset
        if seq in wanted:
            found[seq] = line
        if seq >= last:
            break
    return found
