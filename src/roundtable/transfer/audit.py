"""`roundtable verify-export FILE`: verify an export with neither the server nor its database.

The export (`roundtable export`) carries every entry with its hash and leaf hash, the segments,
the signed checkpoints and the public keys that signed them. It is restored into a scratch SQLite
database in a temporary directory (every hash is recomputed on the way in) and each journal is
then verified as `verify` does. Checkpoint keys are trusted only as the auditor says: the kids
given with `--key` (pin them from a source you trust, e.g. the server's published JWKS), or, if
none is given, the keys the export itself names (the file is then only checked against itself).
Witness cosignatures the export carries are checked the same way: under the witness keys given
with `--witness-key`, or else the ones the export names; `--witnesses N` requires N of them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from roundtable.auth.keyring import trust
from roundtable.config import Settings
from roundtable.errors import InvalidInput
from roundtable.journal.models import VerifyReport
from roundtable.journal.offline import witness_cosigners
from roundtable.runtime import Roundtable
from roundtable.transfer.restore import restore
from roundtable.witness.audit import check_cosignatures
from roundtable.witness.submit import cosigned_records


@dataclass
class ExportAudit:
    namespace: str | None
    reports: list[VerifyReport]
    trusted: list[str]
    pinned: bool  # the auditor named the keys (else the export's own were used)
    refused: str | None = None  # why the export could not even be restored

    @property
    def ok(self) -> bool:
        return self.refused is None and all(r.ok for r in self.reports)


async def verify_export(
    lines: Iterable[str],
    keys: list[str] | None,
    *,
    witness_keys: list[str] | None = None,
    witnesses: int = 0,
) -> ExportAudit:
    with tempfile.TemporaryDirectory(prefix="roundtable-audit-") as scratch:
        base = Path(scratch)
        settings = Settings(
            data_dir=base / "data",
            database_url=f"sqlite+aiosqlite:///{base / 'audit.db'}",
            sweep_interval_seconds=3600,
        )
        async with Roundtable.open(settings, sweeper=False) as core:
            try:
                done = await restore(core, lines)
            except InvalidInput as exc:
                return ExportAudit(None, [], keys or [], keys is not None, exc.message)
            trusted = list(keys) if keys is not None else list(done.signing_keys)
            if trusted:
                trust(settings.data_dir, trusted)
            cosigners = witness_cosigners(settings, witness_keys or done.witness_keys, witnesses)
            reports = []
            for p in await core.journal.list_projects(done.namespace):
                report = await core.journal.verify(done.namespace, p.name)
                kept = cosigned_records(settings.data_dir, done.namespace, p.name)
                reports.append(
                    await check_cosignatures(core.db, report, kept, cosigners, witnesses)
                )
        return ExportAudit(done.namespace, reports, trusted, keys is not None)


__all__ = ["ExportAudit", "verify_export"]
