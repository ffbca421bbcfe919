"""Each run's output schema: resolved when the run is queued, enforced when it reports.

Resolution order: the schema given for the run (inline, or a registry `NAME`/`NAME@N`) →
the blueprint's `output_schema` (inline or registry reference) → none. The run records the
resolved body and its reference (`NAME@N`, or `sha256:...` for an inline schema), so a later
registry or blueprint change never alters a queued run.

On a result: extract the JSON (see `extract`), validate it with a cached validator; valid →
the run completes with that value as `result_data`; invalid with retries left → the run fails
(`output_invalid`) and a `retry` run of the same session is queued carrying the errors as
`$.path: message` lines and the schema; invalid with none left → the run and its session
fail with `output_invalid`, every error and the last output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from roundtable import metrics
from roundtable.errors import InvalidInput
from roundtable.orchestration import flow
from roundtable.orchestration.models import ENDED, BlueprintSpec, RunStatus, TreeStatus
from roundtable.schemas import events as ev
from roundtable.schemas import refs as R
from roundtable.schemas import service as registry
from roundtable.schemas.validators import (
    CACHE,
    check_resolvable,
    compile_validator,
    errors_of,
)
from roundtable.store import tables
from roundtable.store.engine import Conn
from roundtable.structured.extract import NotFound, extract

RUNS = tables.runs
#: The error lines of a retry prompt (and of an `output_invalid` error) stay under this size.
MAX_ERROR_TEXT = 4096
#: How much of a rejected output an `output_invalid` error quotes.
MAX_OUTPUT_QUOTE = 8192


@dataclass(frozen=True)
class OutputRequest:
    """What a caller asked for a run: a schema (object inline, or registry reference) and the
    retries allowed; None fields fall back to the blueprint, then the server defaults."""

    schema: dict[str, Any] | str | None = None
    retries: int | None = None


async def resolve_schema(
    conn: Conn, namespace: str, source: dict[str, Any] | str
) -> tuple[str, dict[str, Any]]:
    """(reference, body) for an inline schema or a registry reference."""
    if isinstance(source, str):
        row = await registry.lookup(conn, namespace, R.parse(source, "output_schema"))
        return f"{row.name}@{row.version}", dict(row.body)
    checked = R.check(source, "output_schema")
    check_resolvable(checked.body, await registry.resources(conn, namespace, checked.refs))
    return checked.digest, checked.body


def check_blueprint_schema(source: object) -> None:
    """What can be checked of a blueprint's `output_schema` without the database."""
    if source is None:
        return
    if isinstance(source, str):
        R.parse(source, "output_schema")
    else:
        R.check(source, "output_schema")


async def columns(
    conn: Conn,
    namespace: str,
    spec: BlueprintSpec,
    request: OutputRequest | None,
    retries_default: int,
    retries_max: int,
) -> dict[str, Any]:
    """The `runs` columns recording a new run's output schema (empty when it has none)."""
    source = request.schema if request is not None and request.schema is not None else None
    if source is None:
        source = spec.output_schema
    if source is None:
        return {}
    ref, body = await resolve_schema(conn, namespace, source)
    retries = request.retries if request is not None else None
    if retries is None:
        retries = spec.output_retries
    if retries is None:
        retries = retries_default
    return {
        "output_schema_ref": ref,
        "output_schema": body,
        "output_retries": max(0, min(retries, retries_max)),
        "output_attempt": 1,
    }


def _database(conn: Conn) -> str:
    """Which database `conn` talks to: a process may hold several (tests, tools), and the same
    `NAME@N` may be different content in each."""
    sync: Any = getattr(conn, "sync", None)  # the SQLite writer's inline connection
    engine: Any = sync.engine if sync is not None else getattr(conn, "engine", None)
    if engine is None:
        return ""
    url = engine.url
    return f"{url.get_backend_name()}://{url.host or ''}:{url.port or ''}/{url.database or ''}"


async def validator_for(conn: Conn, namespace: str, ref: str, body: dict[str, Any]) -> Any:
    """The cached validator of `ref` (compiled on first use with its registry refs)."""
    key = f"{_database(conn)}\x00{namespace}\x00{ref}"
    validator = CACHE.get(key)
    if validator is None:
        resources = await registry.resources(conn, namespace, R.registry_refs(body))
        validator = compile_validator(body, resources)
        CACHE.put(key, validator)
    return validator


def error_lines(errors: list[dict[str, str]], limit: int = MAX_ERROR_TEXT) -> list[str]:
    """`$.path: message` lines, cut (with a count of the rest) to stay under `limit` chars."""
    lines: list[str] = []
    used = 0
    for index, error in enumerate(errors):
        line = f"{error['path']}: {error['message']}"
        if used + len(line) + 1 > limit:
            lines.append(f"... and {len(errors) - index} more errors")
            break
        lines.append(line)
        used += len(line) + 1
    return lines


def instructions(ref: str, body: dict[str, Any]) -> str:
    """What a non-native executor appends to the prompt."""
    return (
        f"Reply with a single JSON value that satisfies this JSON Schema ({ref}); the server "
        "validates it and will ask again if it does not.\n```json\n"
        + json.dumps(body, indent=2, sort_keys=True)
        + "\n```"
    )


def retry_prompt(ref: str, body: dict[str, Any], lines: list[str]) -> str:
    return (
        f"Your previous answer does not satisfy the required output schema ({ref}).\n"
        "Errors:\n" + "\n".join(lines) + "\n\n" + instructions(ref, body)
    )


def _quote(text: str | None, value: Any) -> str | None:
    shown = text if text is not None else (json.dumps(value) if value is not None else None)
    if shown is None or len(shown) <= MAX_OUTPUT_QUOTE:
        return shown
    return shown[:MAX_OUTPUT_QUOTE] + f"... ({len(shown)} characters)"


async def complete(
    tx: flow.Tx,
    run: Any,
    result_text: str | None,
    result_data: Any,
    usage: dict[str, Any] | None,
) -> bool:
    """Enforce the run's output schema on a reported result. False when the run has none
    (the caller completes it as usual); True when this settled the run."""
    if run.output_schema_ref is None:
        return False
    ref, body = run.output_schema_ref, run.output_schema
    value: Any = None
    validator = await validator_for(tx.conn, run.namespace, ref, body)
    broken = False  # the schema itself cannot be evaluated: asking again would not help
    try:
        value = result_data if result_data is not None else extract(result_text).value
        errors = errors_of(validator, value)
    except NotFound as exc:
        errors = [{"path": "$", "message": str(exc)}]
    except Exception as exc:  # jsonschema/referencing: e.g. a `$ref` to a missing pointer
        broken = True
        errors = [{"path": "$", "message": f"the schema {ref} cannot be evaluated: {exc}"}]
    previous = run.validation or {}
    attempt = int(run.output_attempt or 1)
    history = [
        *previous.get("history", []),
        {"run_id": run.id, "attempt": attempt, "valid": not errors, "errors": errors},
    ]
    validation = {
        "schema": ref,
        "valid": not errors,
        "attempts": attempt,
        "errors": errors,
        "history": history,
    }
    await tx.conn.execute(update(RUNS).where(RUNS.c.id == run.id).values(validation=validation))
    fresh = (await tx.conn.execute(select(RUNS).where(RUNS.c.id == run.id))).one()
    if not errors:
        await flow.finish_run(
            tx,
            fresh,
            RunStatus.COMPLETED.value,
            result_text=result_text,
            result_data=value,
            usage=usage,
        )
        return True
    session = await flow.lock_session(tx, run.session_id)
    retries = int(run.output_retries or 0)
    will_retry = (
        not broken
        and attempt <= retries
        and not run.stop_requested
        and session is not None
        and session.status not in ENDED
    )
    lines = error_lines(errors)
    tx.emit(
        run.namespace,
        ev.RUN_OUTPUT_INVALID,
        {
            "run_id": run.id,
            "session_id": run.session_id,
            "schema_ref": ref,
            "attempt": attempt,
            "errors": errors,
            "will_retry": will_retry,
        },
        agent=session.agent if session is not None else None,
        session_id=run.session_id,
    )
    error = {
        "code": "output_invalid",
        "message": f"output does not satisfy {ref} (attempt {attempt} of {retries + 1}): "
        + "; ".join(lines),
        "schema": ref,
        "errors": errors,
        "attempts": history,
        "output": _quote(result_text, result_data),
    }
    if not will_retry or session is None:
        await flow.finish_run(
            tx, fresh, RunStatus.FAILED.value, result_text=result_text, error=error, usage=usage
        )
        return True
    await _retry(tx, fresh, session, error, lines, result_text, usage)
    return True


async def _retry(
    tx: flow.Tx,
    run: Any,
    session: Any,
    error: dict[str, Any],
    lines: list[str],
    result_text: str | None,
    usage: dict[str, Any] | None,
) -> None:
    """Fail this attempt (without ending the session) and queue the `retry` run."""
    attempt = int(run.output_attempt or 1)
    spec = await flow.blueprint_version(
        tx.conn, session.namespace, session.blueprint, session.blueprint_version
    )
    retry_input = {
        "prompt": retry_prompt(run.output_schema_ref, run.output_schema, lines),
        "retry": {
            "of_run_id": run.id,
            "attempt": attempt + 1,
            "schema": run.output_schema_ref,
            "errors": lines,
        },
    }
    retry_id = await flow.enqueue(
        tx,
        session,
        spec,
        "retry",
        retry_input,
        int(run.priority),
        output={
            "output_schema_ref": run.output_schema_ref,
            "output_schema": run.output_schema,
            "output_retries": run.output_retries,
            "output_attempt": attempt + 1,
            "validation": run.validation,
        },
    )
    await tx.conn.execute(
        update(RUNS)
        .where(RUNS.c.id == run.id)
        .values(
            status=RunStatus.FAILED.value,
            result_text=result_text,
            error={**error, "retry_run_id": retry_id},
            usage=usage,
            finished_at=tx.now,
            lease_expires_at=None,
        )
    )
    flow.count(metrics.RUNS_ENDED, RunStatus.FAILED.value)  # this attempt failed; a retry runs
    flow.audit(tx, session, run, "output_invalid", None)
    tx.emit(
        run.namespace,
        ev.RUN_RETRY,
        {
            "run_id": retry_id,
            "of_run_id": run.id,
            "session_id": run.session_id,
            "attempt": attempt + 1,
            "retries_left": int(run.output_retries or 0) - attempt,
        },
        agent=session.agent,
        session_id=session.id,
    )
    await flow.set_status(tx, session, TreeStatus.PENDING.value, "retry")


def check_request(schema: object, retries: object) -> OutputRequest | None:
    """An `OutputRequest` from API arguments (None when both are absent)."""
    if schema is None and retries is None:
        return None
    if schema is not None and not isinstance(schema, (dict, str)):
        raise InvalidInput(
            "output_schema must be a JSON Schema object or a registry reference NAME[@N]",
            field="output_schema",
        )
    if retries is not None and (not isinstance(retries, int) or retries < 0):
        raise InvalidInput("output_retries must be a non-negative integer", field="output_retries")
    return OutputRequest(schema=schema, retries=retries)


def refused_completion(run: Any, complete: object) -> bool:
    """A `complete` report on a run whose output was already refused (a repeat after a lost
    reply): answered with the run as it is, like any repeated final report."""
    return (
        complete is not None
        and run.status == RunStatus.FAILED.value
        and (run.error or {}).get("code") == "output_invalid"
    )


def validation_summary(run: Any) -> dict[str, Any] | None:
    """`{schema, valid, attempts, errors}` of a session's latest run (None without a schema);
    `valid` is None while the attempt is still out."""
    if run is None or run.output_schema_ref is None:
        return None
    done = run.validation or {}
    pending = done.get("history") and done["history"][-1]["run_id"] != run.id
    return {
        "schema": run.output_schema_ref,
        "valid": None if pending or not done else done["valid"],
        "attempts": int(done.get("attempts", 0)),
        "errors": done.get("errors", []),
    }
