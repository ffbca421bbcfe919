"""The queue under contention: many runners on several independent cores (engines, pools and
event buses of their own, as separate server instances would have) claim at once; no run is
claimed twice and none is lost. FIFO within priority, demands and capacity are honoured."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

from roundtable.auth.tokens import ADMIN
from roundtable.config import Settings
from roundtable.events.log import read_after
from roundtable.runtime import Roundtable
from tests.orchestration.conftest import NS, Runner, blueprint, runner

RUNS = 150
INSTANCES = 3
RUNNERS_PER_INSTANCE = 3


async def test_concurrent_claimers_on_several_instances_never_share_a_run(
    settings: Settings,
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        cores = [
            await stack.enter_async_context(Roundtable.open(settings, sweeper=False))
            for _ in range(INSTANCES)
        ]
        await blueprint(cores[0])
        runners: list[Runner] = []
        for i, core in enumerate(cores):
            for j in range(RUNNERS_PER_INSTANCE):
                runners.append(await runner(core, name=f"r{i}-{j}", capacity=4))
        done: list[str] = []

        async def work(r: Runner) -> None:
            idle = 0
            while idle < 3:
                runs = await r.claim(4, wait=0.3)
                idle = 0 if runs else idle + 1
                for run in runs:
                    await r.complete(run.id, {"by": r.id})
                    done.append(run.id)

        async def produce() -> None:
            for n in range(RUNS):
                await cores[n % INSTANCES].orchestration.trees.start(
                    NS, ADMIN, "echoer", {"prompt": str(n)}
                )

        await asyncio.gather(produce(), *(work(r) for r in runners))
        events = await read_after(cores[0].db, 0, limit=100_000)
        claims = Counter(e.payload["run_id"] for e in events if e.type == "run.claimed")
        completed = Counter(e.payload["run_id"] for e in events if e.type == "run.completed")
        assert len(done) == RUNS and len(set(done)) == RUNS
        assert len(claims) == RUNS and max(claims.values()) == 1
        assert len(completed) == RUNS and max(completed.values()) == 1
        claimers = Counter(e.payload["runner_id"] for e in events if e.type == "run.claimed")
        assert len(claimers) > 1  # the work was actually shared


async def test_priority_fifo_demands_and_capacity(core: Roundtable) -> None:
    await blueprint(core, "plain")
    await blueprint(core, "gpu", demands=["gpu"])
    trees = core.orchestration.trees
    low = [await trees.start(NS, ADMIN, "plain", {"prompt": f"l{i}"}) for i in range(3)]
    high = await trees.start(NS, ADMIN, "plain", {"prompt": "h"}, priority=5)
    gpu = await trees.start(NS, ADMIN, "gpu", {"prompt": "g"}, priority=9)
    cpu_runner = await runner(core, name="cpu", capacity=2)
    first = await cpu_runner.claim(4)
    assert [r.session_id for r in first] == [high.id, low[0].id]  # capacity 2; gpu skipped
    assert await cpu_runner.claim(4) == []  # full
    await cpu_runner.complete(first[0].id)
    [nxt] = await cpu_runner.claim(4)
    assert nxt.session_id == low[1].id
    other_executor = await runner(core, name="script-only", executors=["script"], tags=["gpu"])
    assert await other_executor.claim(4) == []
    gpu_runner = await runner(core, name="gpu", tags=["gpu", "linux"], capacity=4)
    got = await gpu_runner.claim(4)
    assert [r.session_id for r in got] == [gpu.id, low[2].id]


async def test_a_waiting_claim_wakes_when_a_run_is_queued(core: Roundtable) -> None:
    await blueprint(core)
    r1 = await runner(core)
    waiter = asyncio.create_task(r1.claim(1, wait=30))
    await asyncio.sleep(0.2)
    assert not waiter.done()
    session = await core.orchestration.trees.start(NS, ADMIN, "echoer", {"prompt": "x"})
    [run] = await asyncio.wait_for(waiter, 10)  # woken by the event, long before 30 s
    assert run.session_id == session.id


async def test_a_waiting_claim_wakes_for_a_run_queued_by_another_instance(
    settings: Settings,
) -> None:
    """No timer can explain the wake-up (the fallback poll is longer than the test's bound):
    PostgreSQL NOTIFY or SQLite's data_version brings it."""
    slow = settings.model_copy(update={"event_fallback_poll_seconds": 120.0})
    async with (
        Roundtable.open(slow, sweeper=False) as a,
        Roundtable.open(slow, sweeper=False) as b,
    ):
        await blueprint(a)
        r1 = await runner(a)
        waiter = asyncio.create_task(r1.claim(1, wait=60))
        await asyncio.sleep(0.3)
        assert not waiter.done()
        session = await b.orchestration.trees.start(NS, ADMIN, "echoer", {"prompt": "x"})
        [run] = await asyncio.wait_for(waiter, 20)
        assert run.session_id == session.id


async def test_unmatchable_runs_at_the_head_never_hide_a_matchable_one(core: Roundtable) -> None:
    """The claim filters by demands in the database: hundreds of runs no runner matches
    queued first do not starve the plain run queued behind them."""
    await blueprint(core, "plain")
    await blueprint(core, "exotic", demands=["quantum"])
    await blueprint(core, "gpu-arm", demands=["arm", "gpu"])
    trees = core.orchestration.trees
    for i in range(300):
        await trees.start(NS, ADMIN, "exotic", {"prompt": f"x{i}"})
    arm = await trees.start(NS, ADMIN, "gpu-arm", {"prompt": "arm"})
    plain = await trees.start(NS, ADMIN, "plain", {"prompt": "p"})
    [got] = await (await runner(core, name="plain", capacity=4)).claim(4)
    assert got.session_id == plain.id
    gpu_linux = await runner(core, name="gpu-linux", tags=["gpu", "linux"], capacity=4)
    assert await gpu_linux.claim(4) == []  # demands arm too
    [got] = await (await runner(core, name="gpu-arm", tags=["arm", "gpu", "x"])).claim(4)
    assert got.session_id == arm.id
