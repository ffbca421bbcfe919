"""A runner's reports on the runs it holds: their wire models, and recording them.

A report (started, progress, an end, a batch of ends) acts on a run the runner holds, in one
write transaction that locks the run's session and then the run. An end reported twice (a retry
after a lost reply) is recorded once. `RunReports` is the report side of `QueueService`, apart
from the claim side so each reads on its own.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import update

from roundtable.auth.tokens import Principal
from roundtable.config import Settings
from roundtable.errors import ConflictError, InvalidInput, NotFound
from roundtable.ids import utcnow
from roundtable.journal.service import JournalService
from roundtable.orchestration import events as ev
from roundtable.orchestration import flow
from roundtable.orchestration import statements as st
from roundtable.orchestration.matching import MAX_CLAIM
from roundtable.orchestration.models import HELD, Run, RunStatus, Strict
from roundtable.orchestration.runners import check_runner
from roundtable.store import tables
from roundtable.store.engine import Conn, Database
from roundtable.structured import outputs
from roundtable.validation import check_text

R = tables.runs


class Usage(Strict):
    input_tokens: int | None = Field(default=None, ge=0)
    output_tokens: int | None = Field(default=None, ge=0)
    cost_usd: float | None = Field(default=None, ge=0)


class Complete(Strict):
    result_text: str | None = Field(default=None, max_length=1_000_000)
    result_data: Any = None
    usage: Usage | None = None


class RunError(Strict):
    code: str = Field(min_length=1, max_length=64)
    message: str = Field(max_length=65_536)


class Fail(Strict):
    error: RunError
    retryable: bool = False


class Report(Strict):
    """One run's end in a batch of reports: exactly one of `complete`, `fail`, `stopped`."""

    run_id: str = Field(min_length=1, max_length=64)
    complete: Complete | None = None
    fail: Fail | None = None
    stopped: bool = False

    @model_validator(mode="after")
    def _one_outcome(self) -> Report:
        if (self.complete is not None) + (self.fail is not None) + self.stopped != 1:
            raise ValueError("give exactly one of complete, fail, stopped")
        return self

    @property
    def status(self) -> RunStatus:
        if self.complete is not None:
            return RunStatus.COMPLETED
        return RunStatus.FAILED if self.fail is not None else RunStatus.STOPPED


class Reports(Strict):
    reports: list[Report] = Field(min_length=1, max_length=MAX_CLAIM)


class ReportOutcome(BaseModel):
    """How one report of a batch went: the run's status after it, or the refusal (the same
    error a single report would have got, in its wire form)."""

    run_id: str
    status: str | None = None
    error: dict[str, Any] | None = None


class ProgressItem(Strict):
    kind: str = Field(min_length=1, max_length=64)
    data: dict[str, Any] = Field(default_factory=dict)


class Progress(Strict):
    events: list[ProgressItem] = Field(default_factory=list, max_length=100)


class RunReports:
    """The runner's reports on the runs it holds (mixed into `QueueService`)."""

    db: Database
    settings: Settings
    journal: JournalService

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.run_lease_seconds)

    async def _held(
        self, tx: flow.Tx, principal: Principal, runner_id: str, run_id: str
    ) -> tuple[Any, Any]:
        """The run's session and the run, locked (the run is not yet checked to be held)."""
        await check_runner(tx.conn, principal, runner_id)
        locked = await flow.lock_run(tx, check_text("run_id", run_id))
        if locked is None:
            raise NotFound(f"no run {run_id} (deleted?): stop working on it", run_id=run_id)
        return locked

    def _not_held(self, run: Any, runner_id: str) -> ConflictError:
        return ConflictError(
            f"run {run.id} is {run.status}"
            + (f" and held by runner {run.runner_id}" if run.runner_id != runner_id else "")
            + ": stop working on it",
            run_id=run.id,
            status=run.status,
            runner_id=run.runner_id,
        )

    async def started(self, principal: Principal, runner_id: str, run_id: str) -> bool:
        return await self.db.retrying(
            lambda conn: self._started_in(conn, principal, runner_id, run_id)
        )

    async def _started_in(
        self, conn: Conn, principal: Principal, runner_id: str, run_id: str
    ) -> bool:
        tx = flow.Tx(conn, utcnow(), self.settings)
        _, run = await self._held(tx, principal, runner_id, run_id)
        if run.runner_id != runner_id or run.status not in HELD:
            raise self._not_held(run, runner_id)
        if run.status == RunStatus.CLAIMED.value:
            await conn.execute(
                update(R)
                .where(R.c.id == run_id)
                .values(
                    status=RunStatus.RUNNING.value,
                    started_at=tx.now,
                    lease_expires_at=tx.now + self.lease,
                )
            )
            tx.emit(
                run.namespace,
                ev.RUN_STARTED,
                {"run_id": run_id, "session_id": run.session_id, "runner_id": runner_id},
                session_id=run.session_id,
            )
        await tx.flush(self.journal.append_in)
        return bool(run.stop_requested)

    async def progress(
        self, principal: Principal, runner_id: str, run_id: str, body: Progress
    ) -> bool:
        return await self.db.retrying(
            lambda conn: self._progress_in(conn, principal, runner_id, run_id, body)
        )

    async def _progress_in(
        self, conn: Conn, principal: Principal, runner_id: str, run_id: str, body: Progress
    ) -> bool:
        tx = flow.Tx(conn, utcnow(), self.settings)
        _, run = await self._held(tx, principal, runner_id, run_id)
        if run.runner_id != runner_id or run.status not in HELD:
            raise self._not_held(run, runner_id)
        await conn.execute(
            update(R).where(R.c.id == run_id).values(lease_expires_at=tx.now + self.lease)
        )
        if body.events:
            tx.emit(
                run.namespace,
                ev.RUN_PROGRESS,
                {
                    "run_id": run_id,
                    "session_id": run.session_id,
                    "events": [item.model_dump() for item in body.events],
                },
                session_id=run.session_id,
            )
        await tx.flush(self.journal.append_in)
        return bool(run.stop_requested)

    async def finish(
        self,
        principal: Principal,
        runner_id: str,
        run_id: str,
        status: RunStatus,
        *,
        complete: Complete | None = None,
        fail: Fail | None = None,
    ) -> Run:
        """Record a run's end reported by its runner. A repeated report of the same end (a retry
        after a lost reply) returns the run unchanged: nothing is done twice."""
        return await self.db.retrying(
            lambda conn: self._finish_in(
                conn, principal, runner_id, run_id, status, complete=complete, fail=fail
            )
        )

    async def _finish_in(
        self,
        conn: Conn,
        principal: Principal,
        runner_id: str,
        run_id: str,
        status: RunStatus,
        *,
        complete: Complete | None = None,
        fail: Fail | None = None,
    ) -> Run:
        tx = flow.Tx(conn, utcnow(), self.settings)
        session, run = await self._held(tx, principal, runner_id, run_id)
        if self._repeated(run, runner_id, status, complete):
            return Run.model_validate(dict(run._mapping))  # as locked: nothing was written
        after = await self._end(tx, run, complete, fail, session)
        await tx.flush(self.journal.append_in)
        if after is None:  # requeued, or its output checked: read what that left
            after = dict((await conn.execute(st.RUN, {"b_id": run_id})).one()._mapping)
        return Run.model_validate(after)

    def _repeated(
        self, run: Any, runner_id: str, status: RunStatus, complete: Complete | None
    ) -> bool:
        """True for a repeat of the end already recorded (a retry after a lost reply); raises
        (before anything is written) when the run is not this runner's to end."""
        if run.runner_id == runner_id and (
            run.status == status.value or outputs.refused_completion(run, complete)
        ):  # issue 10: a repeated `complete` of an output already refused is a repeat too
            return True
        if run.runner_id != runner_id or run.status not in HELD:
            raise self._not_held(run, runner_id)
        return False

    async def _end(
        self,
        tx: flow.Tx,
        run: Any,
        complete: Complete | None,
        fail: Fail | None,
        session: Any = None,
    ) -> dict[str, Any] | None:
        """Record the end; returns the run's columns after it when known without a read (the
        run simply ended), None when it was requeued or its output checked. `session`: the
        run's session as locked in this transaction, when nothing since changed it."""
        if fail is not None and fail.retryable and not run.stop_requested:
            await flow.requeue(
                tx, run, f"retryable failure: {fail.error.code}", cause="retryable_failure"
            )
            return None
        if complete is not None:
            usage = complete.usage.model_dump() if complete.usage else None
            # structured output (issue 10): a run with a schema is validated, retried or
            # failed there; one without completes as reported
            if await outputs.complete(tx, run, complete.result_text, complete.result_data, usage):
                return None
            return await flow.finish_run(
                tx,
                run,
                RunStatus.COMPLETED.value,
                result_text=complete.result_text,
                result_data=complete.result_data,
                usage=usage,
                session=session,
            )
        if fail is not None:
            return await flow.finish_run(
                tx, run, RunStatus.FAILED.value, error=fail.error.model_dump(), session=session
            )
        return await flow.finish_run(tx, run, RunStatus.STOPPED.value, session=session)

    async def finish_many(
        self, principal: Principal, runner_id: str, reports: list[Report]
    ) -> list[ReportOutcome]:
        """Several runs' ends in ONE write transaction (a runner's fast runs end together):
        each is what `finish` would record, with the same exactly-once rule. A report refused
        (not this runner's run any more, deleted) is refused alone, before anything of it is
        written; the others are recorded."""
        ids = [check_text("run_id", report.run_id) for report in reports]
        if len(set(ids)) != len(ids):
            raise InvalidInput("a batch reports each run once", field="reports")

        async def work(conn: Conn) -> list[ReportOutcome]:
            tx = flow.Tx(conn, utcnow(), self.settings)
            await check_runner(conn, principal, runner_id)
            # every run (and its session) locked first, in the global lock order
            runs = {run.id: run for run in await flow.lock_runs(tx, ids)}
            outcomes: list[ReportOutcome] = []
            ended: list[str] = []
            for report in reports:
                run = runs.get(report.run_id)
                if run is not None and tx.stops:
                    # an earlier end stopped sessions (a parent's end stops its children):
                    # this run may have changed since it was locked
                    run = (await conn.execute(st.RUN, {"b_id": run.id})).first()
                try:
                    if run is None:
                        raise NotFound(
                            f"no run {report.run_id} (deleted?): stop working on it",
                            run_id=report.run_id,
                        )
                    if self._repeated(run, runner_id, report.status, report.complete):
                        outcomes.append(ReportOutcome(run_id=run.id, status=run.status))
                        continue
                except (NotFound, ConflictError) as error:
                    outcomes.append(ReportOutcome(run_id=report.run_id, error=error.to_dict()))
                    continue
                await self._end(tx, run, report.complete, report.fail)
                ended.append(run.id)
                outcomes.append(ReportOutcome(run_id=run.id))
            await tx.flush(self.journal.append_in)
            if ended:
                rows = await conn.execute(st.RUN_STATUSES, {"b_ids": ended})
                statuses = {row.id: row.status for row in rows}
                for outcome in outcomes:
                    if outcome.run_id in statuses and outcome.error is None:
                        outcome.status = statuses[outcome.run_id]
            return outcomes

        return await self.db.retrying(work)
