"""Checking the witness cosignatures a journal keeps, without the server (D16, `verify --offline`
and `verify-export`).

A cosigned checkpoint is the log's signed note plus witness cosignature lines; the size and root
it vouches for are read from the signed note *body* (never from the JSON beside it, which nothing
signs). For every kept record and every known witness (its public key given by the auditor or
configured): a signature line in that witness's name must verify (else `bad_signature`), and a
checkpoint a known witness did cosign must be this journal's tree at its size (else
`checkpoint_mismatch`, or `truncated` if the journal no longer reaches it). With `n` > 0 the
newest such checkpoint must carry at least `n` valid cosignatures (else `unwitnessed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from roundtable.journal import notes, projects, tree
from roundtable.journal.models import Damage, VerifyReport
from roundtable.store.engine import Database
from roundtable.witness.cosign import Cosigner, key_id


@dataclass(frozen=True)
class Cosigned:
    """One kept cosigned checkpoint as its signed body says, and who of the known witnesses
    cosigned it validly (`valid`) or carries a line in their name that does not verify."""

    origin: str
    size: int
    root: str
    valid: list[str]
    invalid: list[str]


def read_cosigned(note: str, cosigners: list[Cosigner]) -> Cosigned | None:
    """The checkpoint a cosigned note vouches for; None if the note is malformed."""
    try:
        body, signatures = notes.split(note)
        checkpoint = notes.CheckpointBody.parse(body)
    except notes.NoteError:
        return None
    valid: set[str] = set()
    invalid: set[str] = set()
    for cosigner in cosigners:
        theirs = [s for s in signatures if s.name == cosigner.name]
        if any(cosigner.verify(body, s) for s in theirs):
            valid.add(cosigner.name)
        elif any(s.key_hash == key_id(cosigner.name, cosigner.public_raw) for s in theirs):
            invalid.add(cosigner.name)  # the witness's name and key id, a signature that fails
    return Cosigned(
        checkpoint.origin, checkpoint.size, checkpoint.root.hex(), sorted(valid), sorted(invalid)
    )


def _damaged(report: VerifyReport, damage: Damage, seq: int | None, detail: str) -> VerifyReport:
    return report.model_copy(
        update={"ok": False, "problem": damage, "first_bad_seq": seq, "detail": detail}
    )


async def check_cosignatures(
    db: Database,
    report: VerifyReport,
    records: list[dict[str, Any]],
    cosigners: list[Cosigner],
    n: int = 0,
) -> VerifyReport:
    """`report` with the kept cosignatures checked (unchanged if it already found damage)."""
    if not report.ok or (not cosigners and n == 0):
        return report
    origin_tail = f"/{report.namespace}/{report.project}"
    best: tuple[int, list[str]] | None = None
    async with db.read() as conn:
        head = await projects.require(conn, report.namespace, report.project)
        for record in records:
            found = read_cosigned(str(record["note"]), cosigners)
            if found is None or not found.origin.endswith(origin_tail):
                continue
            if found.invalid:
                return _damaged(
                    report,
                    Damage.BAD_SIGNATURE,
                    None,
                    f"the cosignature of witness {found.invalid[0]!r} on the checkpoint at "
                    f"size {found.size} does not verify",
                )
            if not found.valid:
                continue
            if found.size > head.head_seq:
                return _damaged(
                    report,
                    Damage.TRUNCATED,
                    head.head_seq + 1,
                    f"witness {found.valid[0]!r} cosigned size {found.size} but the journal "
                    f"ends at {head.head_seq}",
                )
            if found.size and (await tree.root_at(conn, head.id, found.size)).hex() != found.root:
                return _damaged(
                    report,
                    Damage.CHECKPOINT_MISMATCH,
                    None,
                    f"witness {found.valid[0]!r} cosigned another root at size {found.size}: "
                    f"entries up to {found.size} were rewritten since",
                )
            if len(found.valid) >= n and found.size and (best is None or found.size > best[0]):
                best = (found.size, found.valid)
    if n == 0:
        return (
            report
            if best is None
            else report.model_copy(update={"witnessed_size": best[0], "cosigners": best[1]})
        )
    if best is None:
        return _damaged(
            report,
            Damage.UNWITNESSED,
            None,
            f"no checkpoint of this journal carries {n} witness cosignature(s)",
        )
    return report.model_copy(update={"witnessed_size": best[0], "cosigners": best[1]})
