"""Named job leases (`store.leases`): one holder at a time, taken over only once expired."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import update

from roundtable.errors import ConflictError
from roundtable.runtime import Roundtable
from roundtable.store import leases, tables


async def test_one_holder_at_a_time(core: Roundtable) -> None:
    name = leases.lease_name("job", "ns")
    async with leases.hold(core.db, name, 60, "busy") as lease:
        with pytest.raises(ConflictError, match="busy") as refused:
            async with leases.hold(core.db, name, 60, "busy"):
                pass
        assert refused.value.data == {"lease": name}
        await lease.renew()  # the holder keeps it
    async with leases.hold(core.db, name, 60, "busy"):  # released on leaving the block
        pass


async def test_concurrent_takers_exactly_one_wins(core: Roundtable) -> None:
    name = leases.lease_name("job", "race")
    release = asyncio.Event()

    async def take() -> bool:
        try:
            async with leases.hold(core.db, name, 60, "busy"):
                await release.wait()
                return True
        except ConflictError:
            return False

    tasks = [asyncio.create_task(take()) for _ in range(10)]
    await asyncio.sleep(0.5)
    release.set()
    assert sorted(await asyncio.gather(*tasks)) == [False] * 9 + [True]


async def test_an_expired_lease_is_taken_over_and_its_old_holder_stops(core: Roundtable) -> None:
    name = leases.lease_name("job", "crash")
    async with leases.hold(core.db, name, 60, "busy") as stale:
        async with core.db.write() as conn:  # the holder stalled past its expiry
            m = tables.markers
            await conn.execute(update(m).where(m.c.name == name).values(value=1))
        stale.expiry_ms = 1
        async with leases.hold(core.db, name, 60, "busy"):
            with pytest.raises(ConflictError, match="another process took it over"):
                await stale.renew()
        # The new holder's release is its own; the stale holder's release deletes nothing.


def test_names_fit_the_column_for_any_key() -> None:
    name = leases.lease_name("scribe-import", "n" * 64)
    assert len(name) <= tables.markers.c.name.type.length  # type: ignore[attr-defined]
    assert name != leases.lease_name("scribe-import", "n" * 63)
