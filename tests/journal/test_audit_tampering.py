"""Tampering with what the chain does not hold by itself: checkpoints, signing keys, the stored
tree, archives and pruned bodies. Each is detected by `verify`, which names the first bad seq
and the kind of damage (the entry-level cases are in tests/services/test_tampering.py)."""

from __future__ import annotations

import base64
import gzip
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from roundtable.config import Settings
from roundtable.errors import ConflictError
from roundtable.journal import merkle, notes, retention, tree
from roundtable.journal.models import EntryInput
from roundtable.runtime import Roundtable
from roundtable.store import tables
from tests.journal import independent

NS = "default"
E, P, C, S, K = (
    tables.entries,
    tables.projects,
    tables.checkpoints,
    tables.segments,
    tables.signing_keys,
)
HEAD = 16  # 4 appends of 3, rotation entry 13, then 3 more
SIGNED_AT = [3, 6, 9, 12, 13, 16]  # 3: a journal's first append is signed at once


@pytest.fixture
async def core(settings: Settings) -> AsyncIterator[Roundtable]:
    tuned = settings.model_copy(update={"checkpoint_every_entries": 4})
    async with Roundtable.open(tuned, sweeper=False) as rt:
        yield rt


async def build(core: Roundtable, project: str) -> None:
    """Entries 1-12 (checkpoints at 6, 9, 12), rotation: segment 1 = 1..12, rotation entry 13
    (checkpoint 13), then 14-16 (checkpoint 16)."""
    await core.journal.create_project(NS, "setup", project)

    async def three(start: int) -> None:
        items = [
            EntryInput(message=f"{project} {i}", meta={"i": i}) for i in range(start, start + 3)
        ]
        await core.journal.append(NS, "alice", project, items)

    for start in (1, 4, 7, 10):
        await three(start)
    await core.rotation.rotate(NS, project)
    await three(14)


class Journal:
    def __init__(self, core: Roundtable, project: str, pid: int) -> None:
        self.core, self.project, self.pid = core, project, pid

    @property
    def archive(self) -> Path:
        return self.core.settings.data_dir / f"archives/{NS}/{self.project}/segment-000001.jsonl.gz"


Tamper = Callable[[AsyncConnection, Journal], Awaitable[None]]


def new_key() -> tuple[Ed25519PrivateKey, bytes]:
    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return private, raw


async def forged_checkpoint(conn: AsyncConnection, j: Journal, size: int, register: bool) -> None:
    """A checkpoint with the right root, signed by the attacker's key under our key name."""
    private, raw = new_key()
    root = await tree.root_at(conn, j.pid, size)
    name = j.core.settings.log_origin
    body = notes.CheckpointBody(f"{name}/{NS}/{j.project}", size, root).text()
    kid = hashlib.sha256(raw).hexdigest()[:16]
    if register:
        await conn.execute(
            insert(K).values(
                kid=kid,
                algorithm="Ed25519",
                public_key=base64.b64encode(raw).decode(),
                created_at=j.core.keyring.keys[j.core.keyring.current.kid].created_at,
            )
        )
    await conn.execute(
        insert(C).values(
            project_id=j.pid,
            size=size,
            root=root.hex(),
            key_id=kid,
            note=notes.sign(body, name, private, raw),
            created_at=j.core.keyring.keys[j.core.keyring.current.kid].created_at,
        )
    )


async def checkpoint_row(conn: AsyncConnection, pid: int, size: int) -> Any:
    return (
        (await conn.execute(select(C).where(C.c.project_id == pid, C.c.size == size)))
        .mappings()
        .one()
    )


async def edit_note_root(conn: AsyncConnection, j: Journal) -> None:
    row = await checkpoint_row(conn, j.pid, 9)
    lines = row["note"].split("\n")
    lines[2] = base64.b64encode(b"\x01" * 32).decode()
    await conn.execute(update(C).where(C.c.id == row["id"]).values(note="\n".join(lines)))


async def edit_row_root(conn: AsyncConnection, j: Journal) -> None:
    row = await checkpoint_row(conn, j.pid, 9)
    await conn.execute(update(C).where(C.c.id == row["id"]).values(root="00" * 32))


async def forge_unregistered(conn: AsyncConnection, j: Journal) -> None:
    await forged_checkpoint(conn, j, 14, register=False)


async def forge_registered(conn: AsyncConnection, j: Journal) -> None:
    await forged_checkpoint(conn, j, 14, register=True)


async def copy_other_projects_checkpoint(conn: AsyncConnection, j: Journal) -> None:
    other = await conn.scalar(select(P.c.id).where(P.c.name == "intact"))
    theirs = await checkpoint_row(conn, other, 9)
    ours = await checkpoint_row(conn, j.pid, 9)
    await conn.execute(
        update(C).where(C.c.id == ours["id"]).values(root=theirs["root"], note=theirs["note"])
    )


async def replace_public_key(conn: AsyncConnection, j: Journal) -> None:
    _, raw = new_key()
    kid = j.core.keyring.current.kid
    await conn.execute(
        update(K).where(K.c.kid == kid).values(public_key=base64.b64encode(raw).decode())
    )


async def truncate_tail(conn: AsyncConnection, j: Journal) -> None:
    """Cut entries 15-16 and repair everything the database holds, as a careful attacker would:
    head seq and hash, the frontier, the Merkle nodes. Only the signed checkpoint at 16 knows."""
    await conn.execute(delete(E).where(E.c.project_id == j.pid, E.c.seq > 14))
    rows = (
        await conn.execute(
            select(E.c.hash, E.c.leaf_hash).where(E.c.project_id == j.pid).order_by(E.c.seq)
        )
    ).all()
    frontier, _ = merkle.append_leaves([], 0, [bytes.fromhex(r.leaf_hash) for r in rows])
    M = tables.merkle_nodes
    for level in range(1, 5):  # nodes that cover leaves past 14 (index 14 and up)
        await conn.execute(
            delete(M).where(M.c.project_id == j.pid, M.c.level == level, M.c.idx >= 14 >> level)
        )
    await conn.execute(
        update(P)
        .where(P.c.id == j.pid)
        .values(head_seq=14, head_hash=rows[-1].hash, tree_frontier=[f.hex() for f in frontier])
    )


async def truncate_lazily(conn: AsyncConnection, j: Journal) -> None:
    await conn.execute(delete(E).where(E.c.project_id == j.pid, E.c.seq > 14))
    await conn.execute(update(P).where(P.c.id == j.pid).values(head_seq=14))


async def flip_archive_byte(conn: AsyncConnection, j: Journal) -> None:
    data = bytearray(j.archive.read_bytes())
    data[len(data) // 2] ^= 0x01
    j.archive.write_bytes(bytes(data))


async def flip_archive_byte_and_digest(conn: AsyncConnection, j: Journal) -> None:
    await flip_archive_byte(conn, j)
    digest = hashlib.sha256(j.archive.read_bytes()).hexdigest()
    await conn.execute(update(S).where(S.c.project_id == j.pid).values(archive_sha256=digest))


async def delete_archive(conn: AsyncConnection, j: Journal) -> None:
    j.archive.unlink()


async def rewrite_archive_line_5(conn: AsyncConnection, j: Journal) -> None:
    """A well-formed archive (valid gzip, mtime 0) with entry 5's message changed; the segment
    row's digest updated to match. The rotation entry (in the chain) still has the old one."""
    lines = gzip.decompress(j.archive.read_bytes()).split(b"\n")
    lines[4] = lines[4].replace(f"{j.project} 5".encode(), f"{j.project} 6".encode())
    j.archive.write_bytes(gzip.compress(b"\n".join(lines), mtime=0))
    digest = hashlib.sha256(j.archive.read_bytes()).hexdigest()
    await conn.execute(update(S).where(S.c.project_id == j.pid).values(archive_sha256=digest))


async def append_archive_line(conn: AsyncConnection, j: Journal) -> None:
    lines = gzip.decompress(j.archive.read_bytes())
    j.archive.write_bytes(gzip.compress(lines + lines.split(b"\n")[0] + b"\n", mtime=0))
    digest = hashlib.sha256(j.archive.read_bytes()).hexdigest()
    await conn.execute(update(S).where(S.c.project_id == j.pid).values(archive_sha256=digest))


async def edit_segment_root(conn: AsyncConnection, j: Journal) -> None:
    await conn.execute(update(S).where(S.c.project_id == j.pid).values(root="ab" * 32))


async def edit_pruned_stub(conn: AsyncConnection, j: Journal) -> None:
    """Flip a kept entry's pruned flag, so its (present) body should come from the archive."""
    await conn.execute(update(E).where(E.c.project_id == j.pid, E.c.seq == 15).values(pruned=True))


CASES: dict[str, tuple[Tamper, int | None, str]] = {
    "note-root-edited": (edit_note_root, 9, "bad_signature"),
    "row-root-edited": (edit_row_root, 9, "checkpoint_mismatch"),
    "forged-unregistered-key": (forge_unregistered, 14, "unknown_key"),
    "forged-registered-key": (forge_registered, 14, "unknown_key"),
    "other-projects-checkpoint": (copy_other_projects_checkpoint, 9, "checkpoint_mismatch"),
    "truncated-tail": (truncate_tail, 15, "truncated"),
    "truncated-lazily": (truncate_lazily, 14, "head_mismatch"),
    "archive-byte": (flip_archive_byte, 1, "archive_digest"),
    "archive-byte-and-digest": (flip_archive_byte_and_digest, None, "archive_content"),
    "archive-missing": (delete_archive, 1, "archive_missing"),
    "archive-line-rewritten": (rewrite_archive_line_5, 5, "archive_content"),
    "archive-line-appended": (append_archive_line, 12, "archive_content"),
    "segment-root": (edit_segment_root, 12, "segment_mismatch"),
    "pruned-flag-outside-segment": (edit_pruned_stub, 15, "archive_missing"),
}


async def journal(core: Roundtable, project: str) -> Journal:
    async with core.db.read() as conn:
        pid = await conn.scalar(select(P.c.id).where(P.c.name == project))
    assert pid is not None
    return Journal(core, project, pid)


async def test_intact_journal_checks_everything(core: Roundtable) -> None:
    await build(core, "intact")
    report = await core.journal.verify(NS, "intact")
    assert report.ok, report
    assert (report.checked, report.size) == (HEAD, HEAD)
    assert report.checkpoints_checked == len(SIGNED_AT)
    assert (report.segments_checked, report.archived_checked) == (1, 12)
    assert report.tree_nodes_checked == HEAD - 1  # a tree of 2^k leaves has 2^k - 1 inner nodes
    async with core.db.read() as conn:
        sizes = (await conn.execute(select(C.c.size).order_by(C.c.size))).scalars().all()
    assert list(sizes) == SIGNED_AT


async def test_every_kind_of_audit_tampering_is_detected(core: Roundtable) -> None:
    await build(core, "intact")
    for case in CASES:
        await build(core, case)
    for case, (tamper, _, _) in CASES.items():
        j = await journal(core, case)
        async with core.db.write() as conn:
            await tamper(conn, j)
    wrong = []
    for case, (_, seq, kind) in CASES.items():
        report = await core.journal.verify(NS, case)
        if report.ok or report.problem != kind or (seq is not None and report.first_bad_seq != seq):
            wrong.append((case, report.first_bad_seq, report.problem, report.detail))
        assert report.detail or report.ok
    assert wrong == [], "tampering missed or misreported"
    assert (await core.journal.verify(NS, "intact")).ok


async def test_pruned_bodies_are_verified_from_the_archive(settings: Settings) -> None:
    tuned = settings.model_copy(update={"checkpoint_every_entries": 4, "hot_segments": 0})
    async with Roundtable.open(tuned, sweeper=False) as core:
        for name in ("kept", "edited"):
            await build(core, name)
        assert await retention.prune_due(core.db, core.settings) == 2
        async with core.db.read() as conn:
            pruned = await conn.scalar(
                select(E.c.seq).where(E.c.pruned.is_(True)).order_by(E.c.seq.desc()).limit(1)
            )
        assert pruned == 12
        report = await core.journal.verify(NS, "kept")
        assert report.ok and report.archived_checked == 12, report

        j = await journal(core, "edited")
        async with core.db.write() as conn:
            await rewrite_archive_line_5(conn, j)
        report = await core.journal.verify(NS, "edited")
        assert (report.ok, report.first_bad_seq, report.problem) == (False, 5, "archive_content")


async def test_checkpoints_verify_independently(core: Roundtable) -> None:
    """Our notes check out with nothing but hashlib and cryptography, from the JWKS key."""
    await build(core, "intact")
    key = core.keyring.jwks()["keys"][0]
    raw = base64.urlsafe_b64decode(key["x"] + "==")
    name = core.settings.log_origin
    key_hash = hashlib.sha256(name.encode() + b"\n\x01" + raw).digest()[:4]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    public = Ed25519PublicKey.from_public_bytes(raw)
    async with core.db.read() as conn:
        notes_ = (await conn.execute(select(C.c.note).order_by(C.c.size))).scalars().all()
        leaves = (await conn.execute(select(E.c.leaf_hash).order_by(E.c.seq))).scalars().all()
    for note in notes_:
        text, _, signature_line = note.rpartition("\n\n")
        assert signature_line.startswith(f"— {name} ") and signature_line.endswith("\n")
        blob = base64.b64decode(signature_line.removeprefix(f"— {name} ").strip())
        assert blob[:4] == key_hash
        public.verify(blob[4:], (text + "\n").encode())  # raises if the signature is bad
        origin, size, root = text.split("\n")
        assert origin == f"{name}/{NS}/intact"
        expected = independent.mth([bytes.fromhex(h) for h in leaves[: int(size)]])
        assert base64.b64decode(root) == expected


async def test_replaced_public_key_in_the_database(core: Roundtable) -> None:
    """The key table is shared by every journal, so this one gets its own database."""
    await build(core, "web")
    j = await journal(core, "web")
    async with core.db.write() as conn:
        await replace_public_key(conn, j)
    report = await core.journal.verify(NS, "web")
    assert (report.ok, report.first_bad_seq, report.problem) == (False, 3, "forged_key")
    # Tokens: the swapped row is never trusted, and JWKS no longer publishes it.
    await core.keyring.reload(core.db)
    assert core.keyring.jwks() == {"keys": []}


async def test_replaced_key_file_on_disk(settings: Settings) -> None:
    """A key file swapped behind the server's back is reported by verify and refused at start."""
    async with Roundtable.open(settings, sweeper=False) as core:
        await build(core, "web")
        path = settings.data_dir / "keys" / "signing-ed25519.pem"
        private, _ = new_key()
        path.write_bytes(
            private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        report = await core.journal.verify(NS, "web")
        assert (report.ok, report.first_bad_seq, report.problem) == (False, None, "unknown_key")
        assert "key file was replaced" in (report.detail or "")
    with pytest.raises(ConflictError, match="not registered"):
        async with Roundtable.open(settings, sweeper=False):
            pass


async def test_entries_whose_stdlib_json_differs_from_rfc8785(core: Roundtable) -> None:
    """Floats and keys ordered differently by UTF-16 and by code point take verify's slow path
    (the full RFC 8785 encoder); they verify, and an edit among them is still found."""
    await core.journal.create_project(NS, "setup", "odd")
    metas = [
        {"x": 1.0, "y": 1e21, "z": 0.1, "w": -0.0},
        {"\U0001d11e": 1, "\ue000": 2},  # UTF-16 puts the clef first, code points the other
        {"ok": [1, "two", None, True]},
        {"nested": {"b": 1.5, "a": [2.25e-7]}},
    ]
    items = [EntryInput(message=f"odd {i} \u2028 \x7f \x01", meta=m) for i, m in enumerate(metas)]
    await core.journal.append(NS, "alice", "odd", items)
    assert (await core.journal.verify(NS, "odd")).ok
    j = await journal(core, "odd")
    async with core.db.write() as conn:
        await conn.execute(
            update(E).where(E.c.project_id == j.pid, E.c.seq == 2).values(meta={"\ue000": 2})
        )
    report = await core.journal.verify(NS, "odd")
    assert (report.ok, report.first_bad_seq, report.problem) == (False, 2, "edited")
