"""Verification without a running server (D16): `roundtable verify --offline`.

It opens the database (SQLite file or PostgreSQL URL) read-only in spirit: no migration, no key
registration, nothing written; and trusts checkpoint keys the way the server does, from the data
directory alone: the key file, `keys/retired/`, `keys/trusted` and `ROUNDTABLE_TRUSTED_KEYS`.
The data directory's anchor files are checked as well (`journal.anchors`), and so are the
witness cosignatures kept beside them (`witness.audit`), under the witness keys the auditor gives
or, failing that, those `ROUNDTABLE_WITNESSES` configures.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from roundtable.auth.keyring import Anchors, local_kids, trusted_in_file
from roundtable.config import Settings
from roundtable.errors import InvalidInput, NotFound
from roundtable.journal.models import VerifyReport
from roundtable.journal.notes import NoteError
from roundtable.journal.verify import Progress, verify_journal
from roundtable.store import migrate, tables
from roundtable.store.engine import Database
from roundtable.witness.audit import check_cosignatures
from roundtable.witness.cosign import Cosigner
from roundtable.witness.submit import cosigned_records, parse_witnesses

P = tables.projects


def offline_anchors(settings: Settings) -> Anchors:
    """The keys this data directory holds or trusts, read from files only."""
    current, retired = local_kids(settings.data_dir)
    extra = {k.strip() for k in (settings.trusted_keys or "").split(",") if k.strip()}
    extra |= trusted_in_file(settings.data_dir)
    held = {*retired, *({current} if current else set())}
    return Anchors(held | extra, None, current or "", frozenset(extra - held))


def witness_cosigners(settings: Settings, keys: list[str] | None, n: int) -> list[Cosigner]:
    """The witnesses to check: the verifier keys given, else the configured ones; at least `n`."""
    try:
        cosigners = (
            [Cosigner.parse(k) for k in keys]
            if keys
            else [w.cosigner for w in parse_witnesses(settings.witnesses)]
        )
    except (NoteError, ValueError) as exc:
        raise InvalidInput(f"bad witness key: {exc}", field="witness_key") from None
    if n > len(cosigners):
        raise InvalidInput(
            f"{n} cosignatures asked for, but only {len(cosigners)} witness keys are known "
            "(--witness-key or ROUNDTABLE_WITNESSES)",
            field="witnesses",
        )
    return cosigners


def _require_database_file(settings: Settings) -> None:
    """Never create an empty SQLite file where the database was expected."""
    if settings.is_sqlite:
        path = Path(settings.effective_database_url.split("///", 1)[1])
        if not path.is_file():
            raise NotFound(f"no database file at {path}")


async def verify_offline(
    settings: Settings,
    namespace: str,
    project_names: list[str] | None = None,
    *,
    progress: Progress | None = None,
    witnesses: int = 0,
    witness_keys: list[str] | None = None,
) -> list[VerifyReport]:
    """Verify the named projects (default: every project of the namespace); with `witnesses`,
    require that many valid cosignatures on the newest cosigned checkpoint."""
    _require_database_file(settings)
    cosigners = witness_cosigners(settings, witness_keys, witnesses)
    db = Database(
        settings.effective_database_url,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        synchronous=settings.sqlite_synchronous,
    )
    try:
        if await migrate.current_revision(db) is None:
            raise NotFound(f"no Roundtable database at {settings.effective_database_url}")
        if not project_names:
            async with db.read() as conn:
                found = await conn.scalars(
                    select(P.c.name).where(P.c.namespace == namespace).order_by(P.c.name)
                )
                project_names = [str(name) for name in found]
        anchors = offline_anchors(settings)
        reports = []
        for name in project_names:
            report = await verify_journal(
                db,
                settings.data_dir,
                namespace,
                name,
                anchors,
                progress=progress,
                checkpoint_every=settings.checkpoint_every_entries,
                max_batch=settings.max_batch_entries,
            )
            kept = cosigned_records(settings.data_dir, namespace, name)
            reports.append(await check_cosignatures(db, report, kept, cosigners, witnesses))
        return reports
    finally:
        await db.close()
