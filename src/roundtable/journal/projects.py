"""Projects: named journals in a namespace, each with its chain head."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select

from roundtable.errors import ConflictError, InvalidInput, NotFound
from roundtable.events import log as events
from roundtable.events.log import EventTypes
from roundtable.journal.hashing import GENESIS
from roundtable.journal.models import ProjectInfo
from roundtable.store import tables
from roundtable.store.dialect import insert_ignore
from roundtable.store.engine import Conn, first_row
from roundtable.validation import check_name

P = tables.projects


def project_info(row: Any) -> ProjectInfo:
    m = row._mapping
    return ProjectInfo(
        namespace=m["namespace"],
        name=m["name"],
        description=m["description"],
        created_at=m["created_at"],
        created_by=m["created_by"],
        size=m["head_seq"],
        head_hash=m["head_hash"],
    )


# Built once with bind parameters: on the append path, building a statement per call cost
# more CPU than SQLite spends running it (issue 16).
_FIND = select(P).where(P.c.namespace == bindparam("b_namespace"), P.c.name == bindparam("b_name"))
_FIND_LOCKED = _FIND.with_for_update()
_CURRENT = (
    select(P)
    .join(tables.agent_context, tables.agent_context.c.project_id == P.c.id)
    .where(
        tables.agent_context.c.namespace == bindparam("b_namespace"),
        tables.agent_context.c.agent == bindparam("b_agent"),
    )
)
_CURRENT_LOCKED = _CURRENT.with_for_update(of=P)


async def find(conn: Conn, namespace: str, name: str, *, lock: bool = False) -> Any | None:
    """The project row, or None. `lock=True` holds its row lock to the end of the transaction."""
    query = _FIND_LOCKED if lock else _FIND
    return await first_row(conn, query, {"b_namespace": namespace, "b_name": name})


async def require(conn: Conn, namespace: str, name: str, *, lock: bool = False) -> Any:
    row = await find(conn, namespace, check_name("project", name), lock=lock)
    if row is None:
        raise NotFound(
            f"no project {name!r} in namespace {namespace!r} (create it with create=true)",
            project=name,
        )
    return row


async def require_current(conn: Conn, namespace: str, agent: str, *, lock: bool = False) -> Any:
    """The agent's current project row, or `InvalidInput` when it has none."""
    query = _CURRENT_LOCKED if lock else _CURRENT
    row = await first_row(conn, query, {"b_namespace": namespace, "b_agent": agent})
    if row is None:
        raise InvalidInput(
            f"agent {agent!r} has no current project: call set_project first or name one",
            field="project",
        )
    return row


async def create(
    conn: Conn,
    namespace: str,
    name: str,
    agent: str,
    now: datetime,
    description: str = "",
    *,
    exist_ok: bool = False,
) -> tuple[Any, list[dict[str, Any]]]:
    """Create a project; returns its row and the `project.created` event to record (none if it
    already existed and `exist_ok`). The caller records events last, after all row locks."""
    check_name("project", name)
    result = await conn.execute(
        insert_ignore(
            conn,
            P,
            namespace=namespace,
            name=name,
            description=description,
            created_at=now,
            created_by=agent,
            head_seq=0,
            head_hash=GENESIS,
        )
    )
    if result.rowcount == 0 and not exist_ok:
        raise ConflictError(f"project {name!r} already exists", project=name)
    created = (
        [
            events.event_row(
                now,
                namespace,
                EventTypes.PROJECT_CREATED,
                {"project": name, "description": description},
                project=name,
                agent=agent,
            )
        ]
        if result.rowcount
        else []
    )
    return await require(conn, namespace, name), created
