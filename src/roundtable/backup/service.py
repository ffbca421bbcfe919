"""`backup` and `restore` of a whole instance (see the package docstring for the format)."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select, text

from roundtable import __version__
from roundtable.backup import database, manifest
from roundtable.backup.manifest import DATA, FileDigest, Manifest
from roundtable.config import Settings
from roundtable.errors import ConflictError, InvalidInput
from roundtable.ids import utcnow
from roundtable.journal.models import VerifyReport
from roundtable.runtime import Roundtable
from roundtable.store import migrate, tables
from roundtable.store.engine import Database

#: SQLite's own files beside the database; never copied as data files.
_SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")


@dataclass
class BackupResult:
    path: Path
    backend: str
    schema_revision: str | None
    files: int
    bytes: int


@dataclass
class RestoreResult:
    backend: str
    schema_revision: str | None
    files: int
    reports: list[tuple[str, str, VerifyReport]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(report.ok for _, _, report in self.reports)


def _data_files(data_dir: Path, skip: set[Path]) -> Iterator[Path]:
    """The data directory's files worth keeping: not temp files or locks (dot names), not the
    SQLite database itself, not the backup being written."""
    if not data_dir.is_dir():
        return
    for root, dirs, files in os.walk(data_dir):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and here / d not in skip)
        for name in sorted(files):
            path = here / name
            if not name.startswith(".") and path not in skip:
                yield path


async def create_backup(
    settings: Settings, destination: Path, *, pg_dump: str | None = None
) -> BackupResult:
    """Snapshot the database and copy the data directory's files into `destination` (which
    must not exist, or be empty). Safe while servers write: see the package docstring."""
    db = Database(settings.effective_database_url)
    try:
        revision = await migrate.current_revision(db)
    finally:
        await db.close()
    return await asyncio.to_thread(_write_backup, settings, destination, revision, pg_dump)


def _write_backup(
    settings: Settings, destination: Path, revision: str | None, pg_dump: str | None
) -> BackupResult:
    destination = destination.absolute()
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise ConflictError(f"{destination} exists and is not empty", path=str(destination))
    partial = destination.with_name(f".{destination.name}.partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True, mode=0o700)
    backend = "sqlite" if settings.is_sqlite else "postgresql"
    try:
        skip = {destination, partial}
        data_dir = settings.data_dir.absolute()
        # The trust anchors first (D16): a checkpoint is appended there only after its
        # transaction committed, so anchors copied before the snapshot are all in it. Copied
        # after, they could name checkpoints the snapshot lacks, and the restored journal would
        # look truncated to `verify` and to the signer.
        anchors = data_dir / "anchors"
        digests = _copy_files(data_dir, _data_files(anchors, skip), partial)
        skip.add(anchors)
        if settings.is_sqlite:
            source = database.sqlite_path(settings.effective_database_url).absolute()
            skip |= {source.with_name(source.name + s) for s in _SQLITE_SUFFIXES}
            db_file = manifest.SQLITE_FILE
            database.sqlite_snapshot(source, partial / db_file, settings.sqlite_busy_timeout_ms)
        else:
            db_file = manifest.PG_FILE
            tool = database.find_pg_tool("pg_dump", pg_dump)
            database.pg_snapshot(settings.effective_database_url, partial / db_file, tool)
        digests.insert(0, _listed(partial, partial / db_file))
        digests += _copy_files(data_dir, _data_files(data_dir, skip), partial)
        manifest.write(
            partial,
            Manifest(
                created_at=utcnow(),
                roundtable_version=__version__,
                backend=backend,
                schema_revision=revision,
                database_file=db_file,
                files=digests,
            ),
        )
        if destination.exists():
            destination.rmdir()
        partial.rename(destination)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return BackupResult(
        path=destination,
        backend=backend,
        schema_revision=revision,
        files=len(digests),
        bytes=sum(d.size for d in digests),
    )


def _copy_files(data_dir: Path, paths: Iterator[Path], partial: Path) -> list[FileDigest]:
    """Copy data-directory files into the backup being written; their digests."""
    digests = []
    for path in paths:
        target = partial / DATA / path.relative_to(data_dir)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            shutil.copy2(path, target)
        except FileNotFoundError:
            continue  # removed meanwhile (a mirror being replaced): nothing to keep
        digests.append(_listed(partial, target))
    return digests


def _listed(root: Path, path: Path) -> FileDigest:
    found = manifest.digest(path)
    return FileDigest(path=path.relative_to(root).as_posix(), size=found.size, sha256=found.sha256)


async def restore_backup(
    settings: Settings, source: Path, *, pg_restore: str | None = None, verify: bool = True
) -> RestoreResult:
    """Bring a backup back into an empty data directory (and an empty PostgreSQL database),
    migrate it to the newest schema, and verify every journal."""
    backup = await asyncio.to_thread(_check_target, settings, source)
    tool = None
    if not settings.is_sqlite:
        await _require_empty_pg(settings.effective_database_url)
        tool = database.find_pg_tool("pg_restore", pg_restore)
    copied = await asyncio.to_thread(_put_back, settings, source, backup, tool)
    result = RestoreResult(backend=backup.backend, schema_revision=None, files=copied)
    async with Roundtable.open(settings, sweeper=False) as core:  # migrates to the newest
        result.schema_revision = await migrate.current_revision(core.db)
        if verify:
            for namespace, project in await _journals(core.db):
                report = await core.journal.verify(namespace, project)
                result.reports.append((namespace, project, report))
    return result


def _check_target(settings: Settings, source: Path) -> Manifest:
    """The backup's manifest (every file checked), if the target is empty and of its backend."""
    backup = manifest.read(source)
    target_backend = "sqlite" if settings.is_sqlite else "postgresql"
    if backup.backend != target_backend:
        raise InvalidInput(
            f"this is a {backup.backend} backup; the configured database is {target_backend} "
            "(to move between backends use `roundtable export` / `import jsonl`)",
            backend=backup.backend,
        )
    data_dir = settings.data_dir.absolute()
    if data_dir.exists() and any(data_dir.iterdir()):
        raise ConflictError(
            f"the data directory {data_dir} is not empty; restore needs an empty one",
            path=str(data_dir),
        )
    if settings.is_sqlite:
        db_path = database.sqlite_path(settings.effective_database_url).absolute()
        if db_path.exists():
            raise ConflictError(f"a database already exists at {db_path}", path=str(db_path))
    return backup


def _put_back(settings: Settings, source: Path, backup: Manifest, pg_tool: str | None) -> int:
    """Copy the files and the database back; if anything fails, leave the target as empty as
    it was (the data directory was checked empty, and `pg_restore` runs in one transaction)."""
    data_dir = settings.data_dir.absolute()
    existed = data_dir.exists()
    try:
        return _copy_back(settings, source, backup, pg_tool)
    except BaseException:
        if existed:
            for child in list(data_dir.iterdir()):
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
        raise


def _copy_back(settings: Settings, source: Path, backup: Manifest, pg_tool: str | None) -> int:
    data_dir = settings.data_dir.absolute()
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    copied = 0
    for entry in backup.files:
        if not entry.path.startswith(f"{DATA}/"):
            continue
        target = data_dir / Path(entry.path).relative_to(DATA)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copy2(source / entry.path, target)
        copied += 1
    if settings.is_sqlite:
        db_path = database.sqlite_path(settings.effective_database_url).absolute()
        temp = db_path.with_name(f".{db_path.name}.restoring")
        db_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / backup.database_file, temp)
        os.replace(temp, db_path)
    else:
        assert pg_tool is not None
        database.pg_restore(settings.effective_database_url, source / backup.database_file, pg_tool)
    return copied


async def _journals(db: Database) -> list[tuple[str, str]]:
    P = tables.projects
    async with db.read() as conn:
        rows = await conn.execute(select(P.c.namespace, P.c.name).order_by(P.c.namespace, P.c.name))
        return [(row.namespace, row.name) for row in rows]


async def _require_empty_pg(url: str) -> None:
    db = Database(url)
    try:
        async with db.read() as conn:
            count = await conn.scalar(
                text(
                    "SELECT count(*) FROM information_schema.tables "
                    "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
                )
            )
    finally:
        await db.close()
    if count:
        raise ConflictError(
            "the configured PostgreSQL database is not empty; restore into a new database "
            "(createdb) so nothing is overwritten",
            tables=int(count),
        )
