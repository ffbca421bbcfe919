"""Clients remember the latest checkpoint they verified, per journal (D16), next to the D15 state
cache: `STATE_DIR/<server digest>/<namespace>/checkpoints/<project>.json`.

Each new checkpoint a client sees is checked against the remembered one before it replaces it:
a smaller size is a **rollback**; another root at the same size, or a larger tree the server
cannot prove (RFC 9162 consistency proof) extends the remembered one, is a **fork**. Either is
reported loudly and the remembered checkpoint is kept, so a server (or someone with its database)
that rewrites history is caught by every client that saw the old one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from roundtable.client.state import Warn, server_digest
from roundtable.errors import RoundtableError
from roundtable.ids import utcnow
from roundtable.journal import merkle
from roundtable.journal.models import Checkpoint, ConsistencyProof


class Seen(BaseModel):
    model_config = ConfigDict(extra="forbid")

    size: int
    root: str
    note: str
    saved_at: datetime


class Verdict(StrEnum):
    FIRST = "first"  # nothing remembered yet
    SAME = "same"
    EXTENDED = "extended"  # consistent with the remembered one
    ROLLBACK = "rollback"
    FORK = "fork"

    @property
    def bad(self) -> bool:
        return self in (Verdict.ROLLBACK, Verdict.FORK)


#: Fetches the consistency proof from `old` to `new` for a project.
ProveFn = Callable[[int, int], Awaitable[ConsistencyProof]]


@dataclass
class RememberedCheckpoints:
    state_dir: Path
    server: str
    namespace: str
    warn: Warn

    def path(self, project: str) -> Path:
        return (
            self.state_dir / server_digest(self.server) / self.namespace / "checkpoints"
        ) / f"{project}.json"

    def load(self, project: str) -> Seen | None:
        try:
            return Seen.model_validate_json(self.path(project).read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError) as exc:
            self.warn(f"remembered checkpoint {self.path(project)} is unreadable ({exc})")
            return None

    def save(self, project: str, checkpoint: Checkpoint) -> None:
        path = self.path(project)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        seen = Seen(
            size=checkpoint.size, root=checkpoint.root, note=checkpoint.note, saved_at=utcnow()
        )
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".cp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(seen.model_dump_json(indent=2))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    async def check(self, project: str, checkpoint: Checkpoint, prove: ProveFn) -> Verdict:
        """Compare `checkpoint` with the remembered one; remember it unless it is bad."""
        seen = self.load(project)
        verdict = await _judge(seen, checkpoint, prove)
        if verdict.bad:
            assert seen is not None
            self.warn(
                f"{verdict.value.upper()}: the server's checkpoint of {project!r} (size "
                f"{checkpoint.size}, root {checkpoint.root[:16]}…) "
                + (
                    f"is smaller than the size {seen.size} this client verified before"
                    if verdict is Verdict.ROLLBACK
                    else f"is not consistent with the one this client verified before (size "
                    f"{seen.size}, root {seen.root[:16]}…)"
                )
                + f": the journal's history was rewritten. Kept the old one in {self.path(project)}"
            )
        elif verdict is not Verdict.SAME:
            self.save(project, checkpoint)
        return verdict


async def _judge(seen: Seen | None, checkpoint: Checkpoint, prove: ProveFn) -> Verdict:
    if seen is None:
        return Verdict.FIRST
    if checkpoint.size < seen.size:
        return Verdict.ROLLBACK
    if checkpoint.size == seen.size:
        return Verdict.SAME if checkpoint.root == seen.root else Verdict.FORK
    if seen.size == 0:
        return Verdict.EXTENDED
    try:
        proof = await prove(seen.size, checkpoint.size)
    except RoundtableError:
        return Verdict.FORK  # the server cannot show that the old tree is a prefix
    path = [bytes.fromhex(h) for h in proof.path]
    ok = merkle.verify_consistency(
        seen.size, checkpoint.size, bytes.fromhex(seen.root), bytes.fromhex(checkpoint.root), path
    )
    return Verdict.EXTENDED if ok else Verdict.FORK
