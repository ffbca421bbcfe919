"""The database half of a backup: SQLite `VACUUM INTO`, PostgreSQL `pg_dump`/`pg_restore`.

Both read one consistent snapshot while writers carry on: `VACUUM INTO` runs in a single read
transaction (WAL mode lets writers commit meanwhile), and `pg_dump` in one repeatable-read
transaction. Neither changes the source.
"""

from __future__ import annotations

import glob
import shutil
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import make_url

from roundtable.errors import InvalidInput

#: Where Debian and Ubuntu install PostgreSQL's client programs, newest version first.
_PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise InvalidInput("an in-memory SQLite database cannot be backed up", url=url)
    return Path(database)


def sqlite_snapshot(source: Path, target: Path, busy_timeout_ms: int) -> None:
    """Copy `source` into the new file `target` as of one moment (`VACUUM INTO`), then check it."""
    if not source.is_file():
        raise InvalidInput(f"no SQLite database at {source}", path=str(source))
    conn = sqlite3.connect(source, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute("VACUUM INTO ?", (str(target),))
    finally:
        conn.close()
    check_sqlite(target)


def check_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        result = conn.execute("PRAGMA integrity_check").fetchone()
    finally:
        conn.close()
    if result is None or result[0] != "ok":
        raise InvalidInput(f"SQLite integrity check of {path} failed: {result}", path=str(path))


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as a libpq connection URI (`postgresql://`), for pg_dump/pg_restore."""
    parsed = make_url(url)
    auth = ""
    if parsed.username:
        auth = quote(parsed.username, safe="")
        if parsed.password:
            auth += ":" + quote(str(parsed.password), safe="")
        auth += "@"
    host = parsed.host or ""
    port = f":{parsed.port}" if parsed.port else ""
    query = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in parsed.query.items())
    return f"postgresql://{auth}{host}{port}/{parsed.database or ''}" + (
        f"?{query}" if query else ""
    )


def find_pg_tool(name: str, given: str | None) -> str:
    """`given`, else `name` on PATH, else the newest /usr/lib/postgresql/*/bin/`name`."""
    if given:
        return given
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        glob.glob(f"{_PG_BIN_GLOB}/{name}"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
        reverse=True,
    )
    if candidates:
        return candidates[0]
    raise InvalidInput(
        f"{name} not found: install PostgreSQL's client programs or pass --{name.replace('_', '-')}",
        tool=name,
    )


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        # The connection URI (argv) may hold a password: report the tool's own message only.
        raise InvalidInput(
            f"{what} failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}",
            exit_code=done.returncode,
        )


def pg_snapshot(url: str, target: Path, pg_dump: str) -> None:
    _run(
        [
            pg_dump,
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            "--file",
            str(target),
            "--dbname",
            libpq_url(url),
        ],
        "pg_dump",
    )


def pg_restore(url: str, source: Path, pg_restore_bin: str) -> None:
    _run(
        [
            pg_restore_bin,
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            "--dbname",
            libpq_url(url),
            str(source),
        ],
        "pg_restore",
    )
