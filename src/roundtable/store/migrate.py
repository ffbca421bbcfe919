"""Apply Alembic migrations programmatically, safely when several processes start at once.

Alembic (and Mako, Pygments behind it) is imported only when a migration may be needed: a
database already at the newest revision is recognised by reading `alembic_version` and the
migration files' `revision` lines, which is what every start but the first finds.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from roundtable.store.dialect import lock_migrations
from roundtable.store.engine import Database

if TYPE_CHECKING:
    from alembic.config import Config

_SCRIPTS = Path(__file__).parent / "migrations"
_ASSIGNMENT = re.compile(r'^(revision|down_revision)\s*=\s*(None|"[^"\n]*")\s*$', re.MULTILINE)


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


def head_from_files() -> str | None:
    """The newest revision, read from the migration files without importing Alembic; None
    when they do not form one plain chain (Alembic then decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted((_SCRIPTS / "versions").glob("*.py")):
        found = dict(_ASSIGNMENT.findall(path.read_text()))
        if "revision" not in found:
            continue
        if "down_revision" not in found:
            return None
        revisions.add(found["revision"].strip('"'))
        if found["down_revision"] != "None":
            parents.add(found["down_revision"].strip('"'))
    heads = revisions - parents
    if len(heads) != 1 or not parents <= revisions:
        return None
    return heads.pop()


def _current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


async def _stored_revision(db: Database) -> str | None:
    """The one revision `alembic_version` holds; None if there is no such table or row (any
    other failure recurs, and is raised, on the way through Alembic)."""
    try:
        async with db.read() as conn:
            rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
    except DBAPIError:
        return None
    return str(rows[0][0]) if len(rows) == 1 else None


async def upgrade(db: Database) -> None:
    """Bring the schema to the newest revision (a no-op when it is there already).

    Runs inside one write transaction: `BEGIN IMMEDIATE` on SQLite and an advisory lock on
    PostgreSQL make concurrent starters wait for the first one instead of racing it. A database
    already at the head is left alone without taking that lock or importing Alembic.
    """
    head = head_from_files()
    if head is not None and await _stored_revision(db) == head:
        return
    from alembic import command

    async with db.write() as conn:
        await lock_migrations(conn)
        await conn.run_sync(lambda sync: command.upgrade(_config(sync), "head"))


async def current_revision(db: Database) -> str | None:
    async with db.read() as conn:
        return await conn.run_sync(_current)
