"""Connections opening a brand-new SQLite file at the same instant all succeed.

Switching a new file to WAL mode needs a write lock. Two connections doing it at once deadlock
on the upgrade from their shared locks, and SQLite fails one of them at once with "database is
locked" instead of waiting out the busy timeout. `roundtable mcp` agents starting together hit
exactly this (once in CI), so every connection retries the switch until the busy timeout.

Threads released by a barrier race far more tightly than processes woken by a clock, and
SQLite's locking between connections of one process is the same as between processes: without
the retry, about one attempt in four fails here.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from roundtable.store.engine import prepare_connection


def _open_together(path: Path, count: int) -> tuple[list[Exception], list[str]]:
    """Open `count` connections to `path` and prepare them all at one instant."""
    conns = [sqlite3.connect(path, check_same_thread=False) for _ in range(count)]
    barrier = threading.Barrier(count)
    errors: list[Exception] = []

    def open_one(conn: sqlite3.Connection) -> None:
        barrier.wait()
        try:
            prepare_connection(conn, 30_000, "FULL")
        except sqlite3.Error as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one, args=(conn,)) for conn in conns]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    modes = [conn.execute("PRAGMA journal_mode").fetchone()[0] for conn in conns]
    for conn in conns:
        conn.close()
    return errors, modes


def test_connections_opening_a_new_file_at_once_all_get_wal(tmp_path: Path) -> None:
    for attempt in range(40):
        errors, modes = _open_together(tmp_path / f"race-{attempt}.db", 6)
        assert errors == [], f"attempt {attempt}: {errors}"
        assert modes == ["wal"] * 6
