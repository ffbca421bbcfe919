"""Fixtures: every storage test runs on a real SQLite file and on a real PostgreSQL server.

`ROUNDTABLE_TEST_BACKENDS` picks the backends (default `sqlite,postgresql`). PostgreSQL is
started once per run by `tests/pg.py`; each test gets a fresh database on it.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from roundtable.config import Settings
from roundtable.runtime import Roundtable
from tests import live, pg

BACKENDS = [
    b for b in os.environ.get("ROUNDTABLE_TEST_BACKENDS", "sqlite,postgresql").split(",") if b
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked `only_backend("x")` exists only in its `x` variant (no skipped twin).

    Such tests are about one backend's own mechanism (PostgreSQL's advisory locks and
    LISTEN/NOTIFY, SQLite's writer lock and file sharing), which the other backend lacks.
    """
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        marker = item.get_closest_marker("only_backend")
        callspec = getattr(item, "callspec", None)
        param = callspec.params.get("backend") if callspec is not None else None
        if marker is not None and param is not None and param != marker.args[0]:
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pg.PostgresServer]:
    server = pg.start()
    yield server
    server.stop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def database_url(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'roundtable.db'}"
        return
    async with scratch_database(request.getfixturevalue("pg_server")) as url:
        yield url


@contextlib.asynccontextmanager
async def scratch_database(server: pg.PostgresServer) -> AsyncIterator[str]:
    """A fresh, empty database on the test PostgreSQL server, dropped afterwards."""
    name = "t_" + uuid.uuid4().hex[:16]
    admin = await asyncpg.connect(server.admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield server.url(name)
    finally:
        admin = await asyncpg.connect(server.admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        sweep_interval_seconds=3600,
    )


@pytest.fixture
async def core(settings: Settings) -> AsyncIterator[Roundtable]:
    async with Roundtable.open(settings, sweeper=False) as rt:
        yield rt


@pytest.fixture
def live_server(settings: Settings) -> Iterator[live.LiveServer]:
    """`roundtable serve`'s app on a real port (uvicorn in a thread), on this test's backend."""
    with live.in_thread(settings) as server:
        yield server
