"""A claim renews its runner's row (last heartbeat, lease) at most once per heartbeat interval,
and the runner's lease still lapses at the stored time: the sweeper retires it then and puts
its runs back, however recently it claimed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from roundtable.auth.tokens import ADMIN
from roundtable.ids import utcnow
from roundtable.orchestration.queue import renewal_interval
from roundtable.runtime import Roundtable
from roundtable.store import tables
from tests.orchestration.conftest import NS, blueprint, runner

R = tables.runs
RN = tables.runners


async def _row(core: Roundtable, runner_id: str) -> Any:
    async with core.db.read() as conn:
        return (await conn.execute(select(RN).where(RN.c.id == runner_id))).one()


async def runner_with_queued_runs(core: Roundtable) -> Any:
    """A runner (capacity 8) and three `echoer` runs queued for it."""
    await blueprint(core)
    for n in range(3):
        await core.orchestration.trees.start(NS, ADMIN, "echoer", {"prompt": str(n)})
    return await runner(core, capacity=8)


async def test_a_claim_rewrites_the_runner_only_once_its_renewal_is_an_interval_old(
    core: Roundtable,
) -> None:
    r1 = await runner_with_queued_runs(core)
    registered = await _row(core, r1.id)
    assert len(await r1.claim()) == 1
    # renewed (at registration) less than an interval ago: the claim wrote nothing
    assert await _row(core, r1.id) == registered
    # the same row as if renewed an interval ago: the next claim rewrites it
    every = renewal_interval(core.settings)
    async with core.db.write() as conn:
        await conn.execute(
            update(RN)
            .where(RN.c.id == r1.id)
            .values(
                last_heartbeat=registered.last_heartbeat - every,
                lease_expires_at=registered.lease_expires_at - every,
            )
        )
    before = utcnow()
    assert len(await r1.claim()) == 1
    renewed = await _row(core, r1.id)
    lease = timedelta(seconds=core.settings.run_lease_seconds)
    assert renewed.last_heartbeat >= before
    assert renewed.lease_expires_at >= before + lease
    assert renewed.state == "online"


async def test_the_runner_lease_lapses_at_the_stored_time_whatever_claims_skipped(
    core: Roundtable,
) -> None:
    r1 = await runner_with_queued_runs(core)
    held = [run.id for run in await r1.claim(2)]
    expires = (await _row(core, r1.id)).lease_expires_at
    # a sweep just before the stored expiry leaves the runner and its runs alone
    swept = await core.orchestration.sweeper.sweep(expires - timedelta(milliseconds=1))
    assert swept["runners_gone"] == 0
    assert (await _row(core, r1.id)).state == "online"
    # at it, the runner is gone and the runs it held go back to the queue (attempt 2)
    swept = await core.orchestration.sweeper.sweep(expires)
    assert swept["runners_gone"] == 1
    assert {r.state for r in await core.orchestration.runners.list(NS)} == {"gone"}
    async with core.db.read() as conn:
        rows = (await conn.execute(select(R).where(R.c.id.in_(held)))).all()
    assert {(row.status, row.attempt, row.runner_id) for row in rows} == {("pending", 2, None)}
    # a claim revives the runner (renewing its row) and it may take those runs again
    again = await r1.claim(8)
    assert set(held) <= {run.id for run in again} and len(again) == 3
    revived = await _row(core, r1.id)
    assert revived.state == "online" and revived.lease_expires_at > expires
