"""Secret files (the admin token, the signing key) are created once, whole, with mode 0600."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

from roundtable.auth.files import read_or_create


def _first_starts(path: Path, count: int) -> list[bytes]:
    """`count` starters each try to create `path` with their own secret, at one instant."""
    barrier = threading.Barrier(count)
    got: list[bytes] = []

    def start(n: int) -> None:
        barrier.wait()
        got.append(read_or_create(path, lambda: f"secret of starter {n}\n".encode() * 500))

    threads = [threading.Thread(target=start, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return got


def test_concurrent_first_starts_agree_on_one_whole_file(tmp_path: Path) -> None:
    for attempt in range(20):
        path = tmp_path / f"attempt-{attempt}" / "secret"
        got = _first_starts(path, 8)
        assert len(got) == 8 and len(set(got)) == 1  # everybody uses the one file written
        assert got[0] == path.read_bytes() and len(got[0]) == len(b"secret of starter 0\n") * 500
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert sorted(p.name for p in path.parent.iterdir()) == ["secret"]  # no temp left


def test_an_existing_file_is_read_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    assert read_or_create(path, lambda: b"first") == b"first"
    assert read_or_create(path, lambda: b"second") == b"first"
