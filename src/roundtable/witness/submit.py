"""The log side of witnessing: every checkpoint the server signs is sent to the witnesses named
in `ROUNDTABLE_WITNESSES` (`<witness vkey>@<url>`, comma-separated), with a consistency proof
from the size each witness last cosigned; valid cosignatures are kept, appended to the signed
note, in `DATA_DIR/anchors/<namespace>/<project>.cosigned.jsonl` (outside the database, like the
anchor file). Submission runs in the background after the commit: a witness that is down or
refuses never fails or delays an append; it is logged (logger `roundtable.witness`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from roundtable.journal import notes, tree
from roundtable.journal.models import Checkpoint
from roundtable.store import tables
from roundtable.store.engine import Database
from roundtable.witness.cosign import Cosigner, cosigned_by

log = logging.getLogger("roundtable.witness")
P = tables.projects


@dataclass(frozen=True)
class WitnessConfig:
    cosigner: Cosigner
    url: str


def parse_witnesses(setting: str | None) -> list[WitnessConfig]:
    """`name+id+key@http://host:port, ...` (the witness's cosignature verifier key, then its
    submission prefix)."""
    found = []
    for item in (setting or "").split(","):
        if not item.strip():
            continue
        vkey, sep, url = item.strip().partition("@")
        if not sep or not url.startswith(("http://", "https://")):
            raise ValueError(f"a witness is <verifier key>@<url>, not {item.strip()!r}")
        found.append(WitnessConfig(Cosigner.parse(vkey), url.rstrip("/")))
    return found


def cosigned_path(data_dir: Path, namespace: str, project: str) -> Path:
    return data_dir / "anchors" / namespace / f"{project}.cosigned.jsonl"


def cosigned_records(data_dir: Path, namespace: str, project: str) -> list[dict[str, Any]]:
    """Every cosigned checkpoint kept for the journal (a torn last line is ignored)."""
    try:
        data = cosigned_path(data_dir, namespace, project).read_text()
    except FileNotFoundError:
        return []
    records = []
    for line in data.split("\n")[:-1]:
        with contextlib.suppress(ValueError, TypeError):
            value = json.loads(line)
            if isinstance(value, dict) and isinstance(value.get("note"), str):
                records.append(value)
    return records


class WitnessSubmitter:
    def __init__(self, db: Database, data_dir: Path, witnesses: list[WitnessConfig]) -> None:
        self.db, self.data_dir, self.witnesses = db, data_dir, witnesses
        self.cosigned: dict[tuple[str, str], int] = {}  # (witness url, origin) -> size
        self.tasks: set[asyncio.Task[None]] = set()

    def submit_later(self, checkpoint: Checkpoint) -> None:
        """Start submitting in the background (from the event loop that signed it)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self.submit(checkpoint))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def settle(self) -> None:
        """Wait for submissions in flight (tests, shutdown)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def submit(self, checkpoint: Checkpoint) -> None:
        lines: list[str] = []
        async with httpx.AsyncClient(timeout=10.0) as client:
            for witness in self.witnesses:
                try:
                    line = await self._one(client, witness, checkpoint)
                except (httpx.HTTPError, ValueError) as exc:
                    log.warning("witness %s: %s", witness.url, exc)
                    continue
                if line:
                    lines.append(line)
        if lines:
            note = checkpoint.note + "".join(lines)
            named = cosigned_by(note, [w.cosigner for w in self.witnesses])
            if named:
                await asyncio.to_thread(self._keep, checkpoint, note)

    async def _one(
        self, client: httpx.AsyncClient, witness: WitnessConfig, cp: Checkpoint
    ) -> str | None:
        origin = notes.CheckpointBody.parse(notes.split(cp.note)[0]).origin
        old = self.cosigned.get((witness.url, origin), 0)
        for _ in range(2):
            if old > cp.size:
                return None  # it cosigned a newer one already
            body = f"old {old}\n" + "".join(
                base64.b64encode(h).decode() + "\n" for h in await self._proof(cp, old)
            )
            r = await client.post(f"{witness.url}/add-checkpoint", content=body + "\n" + cp.note)
            if r.status_code == 409 and r.headers.get("content-type", "").startswith(
                "text/x.tlog.size"
            ):
                old = int(r.text.strip())
                continue
            if r.status_code != 200:
                raise ValueError(f"{r.status_code} {r.text.strip()[:200]}")
            self.cosigned[(witness.url, origin)] = cp.size
            return "".join(
                line + "\n"
                for line in r.text.split("\n")
                if line.startswith(notes.SIGNATURE_PREFIX)
            )
        raise ValueError("the witness keeps moving its size")

    async def _proof(self, cp: Checkpoint, old: int) -> list[bytes]:
        if old == 0 or old == cp.size:
            return []
        async with self.db.read() as conn:
            pid = await conn.scalar(
                select(P.c.id).where(P.c.namespace == cp.namespace, P.c.name == cp.project)
            )
            if pid is None:
                raise ValueError(f"project {cp.project!r} is gone")
            return await tree.consistency_proof(conn, int(pid), old, cp.size)

    def _keep(self, cp: Checkpoint, note: str) -> None:
        keep_cosigned(self.data_dir, cp.namespace, cp.project, cp.size, cp.root, note)


def keep_cosigned(
    data_dir: Path, namespace: str, project: str, size: int, root: str, note: str
) -> None:
    """Append a cosigned checkpoint to the journal's kept records (durably, 0600)."""
    path = cosigned_path(data_dir, namespace, project)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    line = json.dumps({"size": size, "root": root, "note": note}) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
