"""Request bodies of the HTTP API (responses reuse the service models)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from roundtable.journal.models import EntryInput, Status
from roundtable.sessions.models import EndStatus


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StartSession(Strict):
    agent: str | None = Field(default=None, description="Required with the admin token.")
    metadata: dict[str, Any] = Field(default_factory=dict)
    parent_id: str | None = None


class SessionCall(Strict):
    agent: str | None = Field(default=None, description="Defaults to the session's owner.")


class EndSession(SessionCall):
    status: EndStatus = EndStatus.FINISHED


class SetContext(Strict):
    project: str
    expected_version: int | None = Field(
        default=None, description="Fail with 409 unless the context is still at this version."
    )
    create: bool = Field(default=False, description="Create the project if it does not exist.")
    session_id: str | None = None


class CreateProject(Strict):
    name: str
    description: str = Field(default="", max_length=4096)
    agent: str | None = None


class AppendEntries(Strict):
    """Either one entry (`message`, `status`, `kind`, `meta`) or a batch in `entries`."""

    agent: str | None = None
    session_id: str | None = None
    entries: list[EntryInput] | None = None
    message: str | None = None
    status: Status = Status.INFO
    kind: str = "progress"
    meta: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_shape(self) -> AppendEntries:
        if (self.entries is None) == (self.message is None):
            raise ValueError("give either `message` (one entry) or `entries` (a batch)")
        return self

    def items(self) -> list[EntryInput]:
        if self.entries is not None:
            return self.entries
        assert self.message is not None
        return [
            EntryInput(message=self.message, status=self.status, kind=self.kind, meta=self.meta)
        ]


class TokenScopeBody(Strict):
    root_session: str | None = Field(
        default=None, description="Bound the token to this session's tree (its root session)."
    )
    projects: list[str] | None = Field(default=None, description="Bound it to these projects.")


class TokenRequest(Strict):
    agent: str
    ttl_seconds: int = Field(default=3600, ge=60, le=366 * 24 * 3600)
    scope: TokenScopeBody | None = Field(default=None, description="Omit for unrestricted.")
    perms: list[str] | None = Field(
        default=None, description="e.g. documents:read, documents:write; omit for all."
    )
