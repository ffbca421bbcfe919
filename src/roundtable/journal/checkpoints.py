"""Signed checkpoints (D4): the server's signed statement of a journal's size and Merkle root.

Each checkpoint is a C2SP tlog-checkpoint in a signed note (`journal.notes`), origin
"<log_origin>/<namespace>/<project>", signed with the server's current Ed25519 key under the key
name `log_origin`. They are signed every `checkpoint_every_entries` entries (in the append's own
transaction), every `checkpoint_every_seconds` for journals with unsigned entries (the sweeper),
on every rotation, and on request. Rows are never updated: the history is the audit trail.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from roundtable.auth.keyring import Keyring
from roundtable.config import Settings
from roundtable.errors import InvalidInput, NotFound
from roundtable.events import log as events
from roundtable.events.log import EventTypes
from roundtable.ids import utcnow
from roundtable.journal import cursor, merkle, notes, projects, tree
from roundtable.journal.models import Checkpoint, CheckpointPage
from roundtable.store import tables
from roundtable.store.engine import Conn, Database

C = tables.checkpoints
P = tables.projects

CHECKPOINT_SIGNED = EventTypes.CHECKPOINT_SIGNED


class CheckpointSigner:
    """What the core signs checkpoints with: the keyring's current key, named `log_origin`."""

    def __init__(self, keyring: Keyring, settings: Settings) -> None:
        notes.check_key_name(settings.log_origin)
        self.keyring = keyring
        self.settings = settings

    @property
    def key_name(self) -> str:
        return self.settings.log_origin

    def origin(self, namespace: str, project: str) -> str:
        return f"{self.settings.log_origin}/{namespace}/{project}"

    def sign(self, namespace: str, project: str, size: int, root: bytes) -> tuple[str, str]:
        """(signed note, key id) for the checkpoint of `project` at `size` with `root`."""
        key = self.keyring.current
        body = notes.CheckpointBody(self.origin(namespace, project), size, root)
        return notes.sign(body.text(), self.key_name, key.private, key.public_raw), key.kid

    def verifier_key(self) -> str:
        return notes.verifier_key(self.key_name, self.keyring.current.public_raw)


def _model(row: Any, namespace: str, project: str) -> Checkpoint:
    return Checkpoint(
        namespace=namespace,
        project=project,
        size=row["size"],
        root=row["root"],
        key_id=row["key_id"],
        note=row["note"],
        created_at=row["created_at"],
    )


async def sign_checkpoint(
    conn: Conn,
    signer: CheckpointSigner,
    settings: Settings,
    *,
    namespace: str,
    project: str,
    project_id: int,
    size: int,
    root: bytes,
    now: datetime,
) -> Checkpoint:
    """Sign and store a checkpoint in the caller's transaction; records `checkpoint.signed` last."""
    note, kid = signer.sign(namespace, project, size, root)
    values = {
        "project_id": project_id,
        "size": size,
        "root": root.hex(),
        "key_id": kid,
        "note": note,
        "created_at": now,
    }
    await conn.execute(C.insert().values(**values))
    await events.record(
        conn,
        events.event_row(
            now,
            namespace,
            CHECKPOINT_SIGNED,
            {"project": project, "size": size, "root": root.hex(), "key_id": kid},
            project=project,
        ),
    )
    return _model(values, namespace, project)


async def sign_head(
    conn: Conn, signer: CheckpointSigner, settings: Settings, head: Any, now: datetime
) -> Checkpoint:
    """Sign the project row `head` (locked by the caller) at its current size."""
    root = merkle.root_from_frontier([bytes.fromhex(h) for h in head.tree_frontier])
    return await sign_checkpoint(
        conn,
        signer,
        settings,
        namespace=head.namespace,
        project=head.name,
        project_id=head.id,
        size=head.head_seq,
        root=root,
        now=now,
    )


async def after_append(
    conn: Conn,
    signer: CheckpointSigner,
    settings: Settings,
    *,
    namespace: str,
    project: str,
    project_id: int,
    old_size: int,
    new_size: int,
    now: datetime,
) -> Checkpoint | None:
    """Sign at the new head if the append crossed a multiple of `checkpoint_every_entries`, or
    was the project's first: a new journal has a signed checkpoint as soon as it has an entry,
    rather than a 404 from `checkpoints/latest` until the sweeper's next pass."""
    every = settings.checkpoint_every_entries
    if old_size > 0 and new_size // every == old_size // every:
        return None
    root = await tree.root_at(conn, project_id, new_size)
    return await sign_checkpoint(
        conn,
        signer,
        settings,
        namespace=namespace,
        project=project,
        project_id=project_id,
        size=new_size,
        root=root,
        now=now,
    )


async def sign_now(
    db: Database, signer: CheckpointSigner, settings: Settings, namespace: str, project: str
) -> Checkpoint:
    """Sign the project's head now, unless the current key already signed exactly this head."""
    now = utcnow()
    async with db.write() as conn:
        head = await projects.require(conn, namespace, project, lock=True)
        latest = await _latest_row(conn, head.id)
        if (
            latest is not None
            and latest["size"] == head.head_seq
            and latest["key_id"] == signer.keyring.current.kid
        ):
            return _model(latest, namespace, project)
        return await sign_head(conn, signer, settings, head, now)


async def sign_due(
    db: Database, signer: CheckpointSigner, settings: Settings, now: datetime
) -> int:
    """Sign every journal with unsigned entries whose newest checkpoint is older than T."""
    cutoff = now - timedelta(seconds=settings.checkpoint_every_seconds)
    newest = (
        select(
            C.c.project_id,
            func.max(C.c.size).label("size"),
            func.max(C.c.created_at).label("at"),
        )
        .group_by(C.c.project_id)
        .subquery()
    )
    query = (
        select(P.c.namespace, P.c.name)
        .select_from(P.outerjoin(newest, newest.c.project_id == P.c.id))
        .where(P.c.head_seq > func.coalesce(newest.c.size, 0))
        .where((newest.c.at.is_(None)) | (newest.c.at <= cutoff))
    )
    async with db.read() as conn:
        due = (await conn.execute(query)).all()
    signed = 0
    for namespace, name in due:
        async with db.write() as conn:
            head = await projects.require(conn, namespace, name, lock=True)
            latest = await _latest_row(conn, head.id)
            if latest is not None and latest["size"] >= head.head_seq:
                continue  # another instance signed it meanwhile
            await sign_head(conn, signer, settings, head, now)
            signed += 1
    return signed


async def _latest_row(conn: Conn, project_id: int) -> Any | None:
    query = select(C).where(C.c.project_id == project_id).order_by(C.c.id.desc()).limit(1)
    return (await conn.execute(query)).mappings().first()


async def latest(db: Database, namespace: str, project: str) -> Checkpoint:
    async with db.read() as conn:
        head = await projects.require(conn, namespace, project)
        row = await _latest_row(conn, head.id)
    if row is None:
        raise NotFound(f"project {project!r} has no checkpoint yet", project=project)
    return _model(row, namespace, project)


async def history(
    db: Database, namespace: str, project: str, *, limit: int, cursor_: str | None, max_page: int
) -> CheckpointPage:
    """Checkpoints newest first; `next_cursor` pages further back."""
    if not 1 <= limit <= max_page:
        raise InvalidInput(f"limit must be between 1 and {max_page}", field="limit")
    before = cursor.decode(cursor_)
    async with db.read() as conn:
        head = await projects.require(conn, namespace, project)
        query = select(C).where(C.c.project_id == head.id)
        if before is not None:
            query = query.where(C.c.id < before)
        rows = (await conn.execute(query.order_by(C.c.id.desc()).limit(limit))).mappings().all()
    items = [_model(row, namespace, project) for row in rows]
    more = len(rows) == limit
    return CheckpointPage(
        checkpoints=items, next_cursor=cursor.encode(int(rows[-1]["id"])) if more else None
    )
