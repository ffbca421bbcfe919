"""Apply Alembic migrations programmatically, safely when several processes start at once."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from roundtable.store.dialect import lock_migrations
from roundtable.store.engine import Database

_SCRIPTS = Path(__file__).parent / "migrations"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(db: Database) -> None:
    """Bring the schema to the newest revision (a no-op when it is there already).

    Runs inside one write transaction: `BEGIN IMMEDIATE` on SQLite and an advisory lock on
    PostgreSQL make concurrent starters wait for the first one instead of racing it.
    """
    async with db.write() as conn:
        await lock_migrations(conn)
        await conn.run_sync(lambda sync: command.upgrade(_config(sync), "head"))


async def current_revision(db: Database) -> str | None:
    async with db.read() as conn:
        return await conn.run_sync(_current)
