"""Which projects have a Markdown mirror and where; syncing and rendering them (D5).

Only an admin may set a mirror path (adapters check), and the path is confined: a relative path
(the normal case) lives under `DATA_DIR/mirrors/`, may not climb out with `..`, and must end in
`.md`; an absolute path is accepted only when the operator enables
`ROUNDTABLE_MIRROR_ALLOW_ABSOLUTE`, and even then not inside the data directory outside
`mirrors/`. So no caller can make the server write anywhere it likes. Two projects may not
share a mirror file.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select, update

from roundtable.config import Settings
from roundtable.errors import ConflictError, InvalidInput
from roundtable.events import catalogue
from roundtable.events import log as events
from roundtable.ids import utcnow
from roundtable.journal import mirror, projects
from roundtable.store import tables
from roundtable.store.engine import Database
from roundtable.validation import check_name

log = logging.getLogger("roundtable.mirror")

P = tables.projects
MIRROR_CHANGED = "project.mirror_changed"


class MirrorChanged(catalogue.Payload):
    project: str
    path: str | None = Field(description="The new mirror path as stored; null: no mirror.")


catalogue.register(MIRROR_CHANGED, MirrorChanged)


class MirrorInfo(BaseModel):
    namespace: str
    project: str
    path: str | None = Field(description="As set: relative to DATA_DIR/mirrors, or absolute.")
    file: str | None = Field(description="The file the server writes.")
    lines: int | None = Field(default=None, description="Entry lines written by this call.")


def resolve(settings: Settings, stored: str) -> Path:
    """A project's mirror file: absolute as stored, else under DATA_DIR/mirrors."""
    path = Path(stored)
    return path if path.is_absolute() else settings.data_dir / "mirrors" / path


def check_path(settings: Settings, raw: str) -> str:
    """Validate an admin-given mirror path; returns the form to store."""
    if not isinstance(raw, str) or not raw.strip() or "\x00" in raw or len(raw) > 1024:
        raise InvalidInput("mirror path must be a non-empty path", field="path")
    path = Path(raw)
    if path.suffix != ".md":
        raise InvalidInput("a mirror path must end in .md", field="path")
    if path.is_absolute():
        if not settings.mirror_allow_absolute:
            raise InvalidInput(
                "absolute mirror paths are disabled: give a path relative to DATA_DIR/mirrors "
                "(the operator may allow them with ROUNDTABLE_MIRROR_ALLOW_ABSOLUTE)",
                field="path",
            )
        resolved = path.resolve()
        data = settings.data_dir.resolve()
        if resolved.is_relative_to(data) and not resolved.is_relative_to(data / "mirrors"):
            raise InvalidInput(
                "a mirror inside the data directory must be under DATA_DIR/mirrors", field="path"
            )
        return str(resolved)
    if raw.startswith("~") or any(part in ("..", ".") for part in Path(raw).parts):
        raise InvalidInput("a relative mirror path may not use .., . or ~", field="path")
    return path.as_posix()


class MirrorService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.writer = mirror.MirrorWriter(db)

    async def set_mirror(self, namespace: str, project: str, path: str | None) -> MirrorInfo:
        """Set (or with None clear) the project's mirror, then write it from the database."""
        check_name("namespace", namespace)
        check_name("project", project)
        stored = None if path is None else check_path(self.settings, path)
        now = utcnow()
        async with self.db.write() as conn:
            head = await projects.require(conn, namespace, project, lock=True)
            if stored is not None:
                others = (
                    await conn.execute(
                        select(P.c.namespace, P.c.name, P.c.mirror_path).where(
                            P.c.mirror_path.is_not(None), P.c.id != head.id
                        )
                    )
                ).all()
                target = resolve(self.settings, stored).resolve()
                for other in others:
                    if resolve(self.settings, other.mirror_path).resolve() == target:
                        raise ConflictError(
                            f"{other.namespace}/{other.name} already mirrors to that file",
                            project=other.name,
                            namespace=other.namespace,
                        )
            await conn.execute(update(P).where(P.c.id == head.id).values(mirror_path=stored))
            await events.record(
                conn,
                events.event_row(
                    now,
                    namespace,
                    MIRROR_CHANGED,
                    {"project": project, "path": stored},
                    project=project,
                ),
            )
        info = MirrorInfo(
            namespace=namespace,
            project=project,
            path=stored,
            file=None if stored is None else str(resolve(self.settings, stored)),
        )
        if stored is not None:
            file = resolve(self.settings, stored)
            info.lines = await self.writer.regenerate(file, namespace, project, int(head.id))
        return info

    async def after_append(self, namespace: str, head: Any) -> None:
        """Post-commit hook: sync the mirror of `head` (the project row) if it has one."""
        if head.mirror_path is not None:
            await self.sync_row(namespace, head)

    async def sync_project(self, namespace: str, project: str) -> None:
        async with self.db.read() as conn:
            head = await projects.require(conn, namespace, project)
        if head.mirror_path is not None:
            await self.sync_row(namespace, head)

    async def sync_row(self, namespace: str, head: Any) -> None:
        """Sync one mirror. A failure is logged as an error, never raised: the database is the
        truth (D1), the append stands, and the next append's sync retries from the sidecar."""
        path = resolve(self.settings, str(head.mirror_path))
        try:
            await self.writer.sync(path, namespace, str(head.name), int(head.id))
        except Exception:
            log.exception(
                "mirror %s of %s/%s could not be written; the journal is intact, the next "
                "append retries",
                path,
                namespace,
                head.name,
            )

    async def render(self, namespace: str, project: str, output: Path | None) -> MirrorInfo:
        """Regenerate the mirror (or write the same rendering to `output`) from the database."""
        check_name("project", project)
        async with self.db.read() as conn:
            head = await projects.require(conn, namespace, project)
        if output is not None:
            lines = await mirror.render_to(self.db, output, namespace, project, int(head.id))
            return MirrorInfo(
                namespace=namespace,
                project=project,
                path=head.mirror_path,
                file=str(output),
                lines=lines,
            )
        if head.mirror_path is None:
            raise InvalidInput(
                f"project {project!r} has no mirror: set one (roundtable project mirror) or "
                "give --output",
                field="output",
            )
        file = resolve(self.settings, str(head.mirror_path))
        lines = await self.writer.regenerate(file, namespace, project, int(head.id))
        return MirrorInfo(
            namespace=namespace, project=project, path=head.mirror_path, file=str(file), lines=lines
        )
