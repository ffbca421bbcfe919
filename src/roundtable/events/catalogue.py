"""The event catalogue: every event type, its payload model and the catalogue's version.

The wire form of an event carries `catalogue_version`. Adding an event type or an optional
payload field keeps the version (readers ignore what they do not know); renaming or removing a
field, changing its meaning or type, bumps it. Future areas (orchestration `run.*`,
`blueprint.*`, documents `document.*`) register their types here with `register`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from roundtable.errors import InvalidInput

#: Bumped only by an incompatible change to an existing type (see module docstring).
CATALOGUE_VERSION = 1


class Payload(BaseModel):
    """Base of every payload model: unknown fields are an error on the server side, so drift
    between what a service writes and what the catalogue documents is caught by the tests."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SessionStarted(Payload):
    session_id: str
    parent_id: str | None = Field(description="The session that started this one, if any.")
    metadata: dict[str, Any]


class SessionHeartbeat(Payload):
    session_id: str
    lease_expires_at: str = Field(description="ISO 8601 UTC: the renewed lease end.")


class SessionEnded(Payload):
    session_id: str
    status: Literal["finished", "failed", "stopped"]


class SessionExpired(Payload):
    session_id: str
    lease_expired_at: str = Field(description="ISO 8601 UTC: when the lease lapsed.")


class SessionSuperseded(Payload):
    session_id: str
    superseded_by: str = Field(description="The new session of the same agent.")


class ContextChanged(Payload):
    old_project: str | None
    new_project: str
    old_version: int
    new_version: int
    mode: Literal["versioned", "last_write_wins"] = Field(
        description="versioned: the writer passed expected_version; last_write_wins: it did not."
    )


class ContextConflict(Payload):
    current_version: int
    current_project: str | None
    expected_version: int
    requested_project: str


class ProjectCreated(Payload):
    project: str
    description: str | None


class JournalAppended(Payload):
    project: str
    first_seq: int
    last_seq: int
    count: int
    head_hash: str
    statuses: list[str] = Field(description="The distinct statuses in the batch, sorted.")


class JournalRotated(Payload):
    project: str
    segment: int = Field(description="The closed segment's number.")
    first_seq: int
    last_seq: int
    root: str = Field(description="Merkle root (hex) of the segment's entries.")
    archive: str = Field(description="Path of the segment's archive file.")
    archive_sha256: str
    rotation_seq: int = Field(description="Seq of the rotation entry chained into the journal.")


class CheckpointSigned(Payload):
    project: str
    size: int = Field(description="The tree size (entries) the checkpoint covers.")
    root: str = Field(description="Merkle root (hex) at that size.")
    key_id: str = Field(description="The signing key's kid.")


class CheckpointRefused(Payload):
    project: str
    size: int = Field(description="The tree size the server was asked to sign.")
    root: str = Field(description="The root it refused (hex).")
    reason: str = Field(description="Why: not consistent with a checkpoint it signed before.")


CATALOGUE: dict[str, type[Payload]] = {
    "session.started": SessionStarted,
    "session.heartbeat": SessionHeartbeat,
    "session.ended": SessionEnded,
    "session.expired": SessionExpired,
    "session.superseded": SessionSuperseded,
    "context.changed": ContextChanged,
    "context.conflict": ContextConflict,
    "project.created": ProjectCreated,
    "journal.appended": JournalAppended,
    "journal.rotated": JournalRotated,
    "checkpoint.signed": CheckpointSigned,
    "checkpoint.refused": CheckpointRefused,
}


def register(type_: str, model: type[Payload]) -> None:
    """Add an event type (for areas that come later); a name may be registered only once."""
    if type_ in CATALOGUE and CATALOGUE[type_] is not model:
        raise ValueError(f"event type {type_!r} is already registered")
    CATALOGUE[type_] = model


def parse_payload(type_: str, payload: dict[str, Any]) -> Payload:
    """The typed payload of an event (`InvalidInput` for an unknown type or a bad payload)."""
    model = CATALOGUE.get(type_)
    if model is None:
        raise InvalidInput(f"unknown event type {type_!r}", field="type")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise InvalidInput(f"bad {type_} payload: {exc}", field="payload") from None


def describe() -> dict[str, Any]:
    """The catalogue as JSON Schema per type (for docs and clients)."""
    return {
        "catalogue_version": CATALOGUE_VERSION,
        "types": {name: model.model_json_schema() for name, model in sorted(CATALOGUE.items())},
    }
