"""Validation of run outputs on both backends: complete when valid, a `retry` run with the exact
error lines when not, `output_invalid` (run, session, parent callback) when retries run out."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from roundtable.auth.tokens import ADMIN
from roundtable.events.filters import EventFilter
from roundtable.orchestration.models import Mode
from roundtable.runtime import Roundtable
from roundtable.store import tables
from roundtable.structured.outputs import OutputRequest
from tests.events.util import all_events
from tests.orchestration.conftest import NS, blueprint, runner

VERDICT = {
    "type": "object",
    "properties": {
        "verdict": {"enum": ["approve", "reject"]},
        "score": {"type": "integer", "minimum": 0, "maximum": 10},
    },
    "required": ["verdict", "score"],
    "additionalProperties": False,
}


async def test_valid_output_in_prose_completes_with_the_extracted_value(core: Roundtable) -> None:
    await core.orchestration.schemas.register(NS, "verdict", VERDICT)
    await blueprint(core, "reviewer", output_schema="verdict")
    r1 = await runner(core)
    session = await core.orchestration.trees.start(NS, ADMIN, "reviewer", {"prompt": "review"})
    [claimed] = await r1.claim()
    assert claimed.blueprint.output_schema == VERDICT
    assert claimed.output_instructions is not None and "verdict@1" in claimed.output_instructions
    run = await r1.complete(claimed.id, text='Looks fine.\n{"verdict": "approve", "score": 8}')
    assert run.status == "completed" and run.result_data == {"verdict": "approve", "score": 8}
    assert run.output_schema_ref == "verdict@1"
    result = await core.orchestration.trees.result(NS, ADMIN, session.id)
    assert result.result_data == {"verdict": "approve", "score": 8}
    assert result.validation == {"schema": "verdict@1", "valid": True, "attempts": 1, "errors": []}


async def test_wrong_then_right_retries_once_with_the_error_lines(core: Roundtable) -> None:
    await core.journal.create_project(NS, "alice", "web")
    await blueprint(core, "reviewer", output_schema=VERDICT)
    r1 = await runner(core)
    trees = core.orchestration.trees
    session = await trees.start(NS, ADMIN, "reviewer", {"prompt": "review"}, project="web")
    [first] = await r1.claim()
    failed = await r1.complete(first.id, data={"verdict": "maybe", "score": 11, "extra": 1})
    assert failed.status == "failed" and failed.error is not None
    assert failed.error["code"] == "output_invalid"
    lines = [
        "$: Additional properties are not allowed ('extra' was unexpected)",
        "$.score: 11 is greater than the maximum of 10",
        "$.verdict: 'maybe' is not one of ['approve', 'reject']",
    ]
    middle = await trees.result(NS, ADMIN, session.id)
    assert middle.status == "pending" and middle.validation is not None
    assert middle.validation["valid"] is None and middle.validation["attempts"] == 1
    repeat = await r1.complete(first.id, data={"verdict": "maybe", "score": 11, "extra": 1})
    assert repeat.status == "failed" and repeat.error == failed.error  # a lost reply's repeat
    [retry] = await r1.claim()
    assert retry.kind == "retry" and retry.session_id == session.id
    assert retry.input["retry"]["errors"] == lines
    assert "\n".join(lines) in retry.input["prompt"] and '"maximum": 10' in retry.input["prompt"]
    done = await r1.complete(retry.id, data={"verdict": "reject", "score": 2})
    assert done.status == "completed"
    result = await trees.result(NS, ADMIN, session.id)
    assert result.status == "idle" and result.result_data == {"verdict": "reject", "score": 2}
    assert result.validation is not None
    assert result.validation["valid"] is True and result.validation["attempts"] == 2
    types = [e.type for e in await all_events(core, EventFilter.build(session_id=session.id))]
    assert types.count("run.output_invalid") == 1 and types.count("run.retry") == 1
    entries = (await core.journal.read_recent(NS, "web", limit=50)).entries
    attempts = [
        e.meta["validation"]["history"]
        for e in entries
        if e.kind == "orchestration.run" and "validation" in e.meta
    ]
    assert [h["valid"] for h in attempts[0]] == [False, True]  # newest entry: both attempts


async def test_always_wrong_fails_after_the_limit_with_every_error(core: Roundtable) -> None:
    await blueprint(core, "parent")
    await blueprint(core, "reviewer", output_schema=VERDICT, output_retries=1)
    r1 = await runner(core)
    trees = core.orchestration.trees
    parent = await trees.start(NS, ADMIN, "parent", {"prompt": "p"})
    [p_run] = await r1.claim()
    await r1.complete(p_run.id, {"ok": True})
    child = await trees.start(
        NS,
        ADMIN,
        "reviewer",
        {"prompt": "review"},
        mode=Mode.ASYNC_CALLBACK,
        parent_session_id=parent.id,
    )
    answers = ["no json here", '{"verdict": "approve"}']
    for answer in answers:
        [run] = await r1.claim()
        await r1.complete(run.id, text=answer)
    result = await trees.result(NS, ADMIN, child.id)
    assert result.status == "failed" and result.error is not None
    assert result.error["code"] == "output_invalid"
    assert result.error["errors"] == [{"path": "$", "message": "'score' is a required property"}]
    assert [a["valid"] for a in result.error["attempts"]] == [False, False]
    assert result.error["output"] == '{"verdict": "approve"}'
    assert result.validation == {
        "schema": result.error["schema"],
        "valid": False,
        "attempts": 2,
        "errors": result.error["errors"],
    }
    # the parent's callback run carries the same
    [callback] = await r1.claim()
    assert callback.kind == "callback" and callback.session_id == parent.id
    [envelope] = callback.input["callbacks"]
    assert envelope["status"] == "failed" and envelope["error"]["code"] == "output_invalid"
    assert envelope["error"]["errors"] == result.error["errors"]
    assert envelope["result_text"] == '{"verdict": "approve"}'


async def test_resolution_order_inline_then_registry_then_blueprint(core: Roundtable) -> None:
    await core.orchestration.schemas.register(NS, "loose", {"type": "object"})
    await core.orchestration.schemas.register(NS, "loose", {"type": "array"})
    await blueprint(core, "reviewer", output_schema="loose@1", output_retries=50)
    trees = core.orchestration.trees
    r1 = await runner(core)
    cases: list[tuple[OutputRequest | None, str | None, int]] = [
        (None, "loose@1", 5),  # blueprint default; retries capped by the server maximum
        (OutputRequest(schema="loose"), "loose@2", 5),
        (OutputRequest(schema={"type": "string"}, retries=0), "sha256:", 0),
    ]
    for request, ref, retries in cases:
        await trees.start(NS, ADMIN, "reviewer", {"prompt": "x"}, output=request)
        [claimed] = await r1.claim()
        assert claimed.output_instructions is not None
        run = await core.orchestration.trees.run(NS, ADMIN, claimed.id)
        assert run.output_schema_ref is not None and run.output_schema_ref.startswith(str(ref))
        async with core.db.read() as conn:
            stored = await conn.scalar(
                select(tables.runs.c.output_retries).where(tables.runs.c.id == claimed.id)
            )
        assert stored == retries
        await r1.fail(claimed.id)


async def test_no_schema_means_no_validation(core: Roundtable) -> None:
    await blueprint(core)
    r1 = await runner(core)
    session = await core.orchestration.trees.start(NS, ADMIN, "echoer", {"prompt": "hi"})
    [claimed] = await r1.claim()
    assert claimed.output_instructions is None and claimed.blueprint.output_schema is None
    await r1.complete(claimed.id, text="free text")
    result = await core.orchestration.trees.result(NS, ADMIN, session.id)
    assert result.result_text == "free text" and result.validation is None


@pytest.mark.parametrize(
    ("output_schema", "status"),
    [({"type": "nope"}, 422), ("missing@1", 404), ([1], 422), ({"$ref": "http://x/y"}, 422)],
)
async def test_bad_run_schemas_are_refused_and_nothing_is_queued(
    api: httpx.AsyncClient, core: Roundtable, output_schema: Any, status: int
) -> None:
    await blueprint(core)
    r = await api.post(
        f"/api/v1/namespaces/{NS}/agent-sessions",
        json={"blueprint": "echoer", "parameters": {"prompt": "x"}, "output_schema": output_schema},
    )
    assert r.status_code == status, r.text
    async with core.db.read() as conn:
        assert await conn.scalar(select(func.count()).select_from(tables.runs)) == 0
    bad_bp = {"name": "b", "executor": {"kind": "echo"}, "output_schema": output_schema}
    r = await api.put(f"/api/v1/namespaces/{NS}/blueprints/b", json=bad_bp)
    assert r.status_code == status, r.text


async def test_a_10mb_output_is_refused_and_the_run_is_untouched(
    api: httpx.AsyncClient, core: Roundtable
) -> None:
    await blueprint(core, "reviewer", output_schema=VERDICT)
    await core.orchestration.trees.start(NS, ADMIN, "reviewer", {"prompt": "x"})
    reg = (await api.post("/api/v1/runners", json={"name": "r", "executors": ["echo"]})).json()
    headers = {"Authorization": f"Bearer {reg['token']}"}
    base = f"/api/v1/runners/{reg['id']}"
    [claimed] = (await api.post(f"{base}/claim", json={"max": 1}, headers=headers)).json()["runs"]
    r = await api.post(
        f"{base}/runs/{claimed['id']}/complete",
        json={"result_text": "x" * 10_000_000},
        headers=headers,
    )
    assert r.status_code == 413 and r.json()["code"] == "too_large"
    run = await core.orchestration.trees.run(NS, ADMIN, claimed["id"])
    assert run.status == "claimed" and run.result_text is None and run.validation is None
