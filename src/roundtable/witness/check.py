"""`verify --witnesses N`: the journal's newest cosigned checkpoint must carry valid
cosignatures of at least N of the configured witnesses (`ROUNDTABLE_WITNESSES`) and be the
journal's own tree at its size."""

from __future__ import annotations

from roundtable.config import Settings
from roundtable.errors import InvalidInput
from roundtable.journal import projects, tree
from roundtable.journal.models import Damage, VerifyReport
from roundtable.store.engine import Database
from roundtable.witness.audit import read_cosigned
from roundtable.witness.submit import cosigned_records, parse_witnesses


async def witnessed(db: Database, settings: Settings, report: VerifyReport, n: int) -> VerifyReport:
    cosigners = [w.cosigner for w in parse_witnesses(settings.witnesses)]
    if n > len(cosigners):
        raise InvalidInput(
            f"{n} cosignatures asked for, but only {len(cosigners)} witnesses are configured "
            "(ROUNDTABLE_WITNESSES)",
            field="witnesses",
        )
    records = cosigned_records(settings.data_dir, report.namespace, report.project)
    best: tuple[int, list[str]] | None = None
    async with db.read() as conn:
        head = await projects.require(conn, report.namespace, report.project)
        # Size and root come from the signed note body, never from the unsigned JSON beside it.
        found = [c for c in (read_cosigned(str(r["note"]), cosigners) for r in records) if c]
        for cosigned in sorted(found, key=lambda c: -c.size):
            size, names = cosigned.size, cosigned.valid
            if len(names) < n or not 0 < size <= head.head_seq:
                continue
            if (await tree.root_at(conn, head.id, size)).hex() != cosigned.root:
                continue  # not this journal's tree (verify already reports that)
            best = (size, names)
            break
    if best is None:
        return report.model_copy(
            update={
                "ok": False,
                "problem": Damage.UNWITNESSED,
                "detail": f"no checkpoint of this journal carries {n} witness cosignature(s)",
            }
        )
    return report.model_copy(update={"witnessed_size": best[0], "cosigners": best[1]})
