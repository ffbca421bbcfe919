"""Orchestration test helpers: an in-process HTTP client on the test's core, blueprints and
runners made through the services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from roundtable.api.app import create_app
from roundtable.auth.tokens import ADMIN, Principal
from roundtable.orchestration.models import BlueprintSpec, ClaimedRun, Run
from roundtable.orchestration.reports import Complete, Fail, RunError
from roundtable.orchestration.runners import RegisterRunner
from roundtable.runtime import Roundtable

NS = "default"


@pytest.fixture
async def api(core: Roundtable) -> AsyncIterator[httpx.AsyncClient]:
    """The HTTP app in process, on this test's core (admin token)."""
    app = create_app(core.settings, sweeper=False)
    app.state.core = core
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://roundtable.test",
        headers={"Authorization": f"Bearer {core.tokens.admin_token}"},
    ) as client:
        yield client


async def blueprint(core: Roundtable, name: str = "echoer", **fields: Any) -> BlueprintSpec:
    spec = BlueprintSpec.model_validate({"name": name, "executor": {"kind": "echo"}, **fields})
    await core.orchestration.blueprints.apply(NS, spec)
    return spec


class Runner:
    """A runner driven by the test through the services (what `roundtable runner` does over
    HTTP)."""

    def __init__(self, core: Roundtable, runner_id: str, principal: Principal) -> None:
        self.core = core
        self.id = runner_id
        self.principal = principal

    async def claim(self, max_runs: int = 1, wait: float = 0) -> list[ClaimedRun]:
        return await self.core.orchestration.queue.claim(self.principal, self.id, max_runs, wait)

    async def complete(self, run_id: str, data: Any = None, text: str | None = None) -> Run:
        from roundtable.orchestration.models import RunStatus

        return await self.core.orchestration.queue.finish(
            self.principal,
            self.id,
            run_id,
            RunStatus.COMPLETED,
            complete=Complete(result_data=data, result_text=text),
        )

    async def fail(self, run_id: str, code: str = "boom", retryable: bool = False) -> Run:
        from roundtable.orchestration.models import RunStatus

        return await self.core.orchestration.queue.finish(
            self.principal,
            self.id,
            run_id,
            RunStatus.FAILED,
            fail=Fail(error=RunError(code=code, message="it broke"), retryable=retryable),
        )

    async def run_all(self, rounds: int = 50) -> int:
        """Claim and complete (echoing the input) until the queue is empty; returns how many."""
        done = 0
        for _ in range(rounds):
            runs = await self.claim(16)
            if not runs:
                return done
            for run in runs:
                await self.complete(run.id, {"echo": run.input})
                done += 1
        return done


async def runner(
    core: Roundtable,
    name: str = "r1",
    tags: list[str] | None = None,
    executors: list[str] | None = None,
    capacity: int = 4,
) -> Runner:
    reg = await core.orchestration.runners.register(
        ADMIN,
        RegisterRunner(
            name=name, tags=tags or [], executors=executors or ["echo"], capacity=capacity
        ),
    )
    principal = core.tokens.authenticate(reg.token)
    return Runner(core, reg.id, principal)
