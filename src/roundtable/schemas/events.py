"""Event types of structured output, registered in the catalogue on import."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from roundtable.events.catalogue import Payload, register

SCHEMA_REGISTERED = "schema.registered"
SCHEMA_DELETED = "schema.deleted"
RUN_OUTPUT_INVALID = "run.output_invalid"
RUN_RETRY = "run.retry"


class SchemaRegistered(Payload):
    name: str
    version: int
    digest: str


class SchemaDeletedPayload(Payload):
    name: str
    versions: list[int]


class RunOutputInvalid(Payload):
    run_id: str
    session_id: str
    schema_ref: str = Field(description="NAME@N or sha256:... of an inline schema")
    attempt: int = Field(description="1 for the first answer, 2 for the first retry, ...")
    errors: list[dict[str, Any]]
    will_retry: bool


class RunRetry(Payload):
    run_id: str = Field(description="The new `retry` run")
    of_run_id: str
    session_id: str
    attempt: int
    retries_left: int


register(SCHEMA_REGISTERED, SchemaRegistered)
register(SCHEMA_DELETED, SchemaDeletedPayload)
register(RUN_OUTPUT_INVALID, RunOutputInvalid)
register(RUN_RETRY, RunRetry)
