"""Journal records as every interface sees them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Status(StrEnum):
    INFO = "info"
    SUCCESS = "success"
    WARN = "warn"
    ERROR = "error"
    BUG = "bug"

    @property
    def emoji(self) -> str:
        return EMOJI[self]


#: How people see a status (the same marks Scribe MCP logs use).
EMOJI: dict[Status, str] = {
    Status.INFO: "ℹ️",
    Status.SUCCESS: "✅",
    Status.WARN: "⚠️",
    Status.ERROR: "❌",
    Status.BUG: "🐞",
}

MetaScalar = str | int | float | bool | None


class EntryInput(BaseModel):
    """One entry to append. Unknown fields are refused, so typos never pass silently."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(description="What happened, for people and agents to read.")
    status: Status = Field(default=Status.INFO, description="info, success, warn, error or bug.")
    kind: str = Field(default="progress", description="A free category, e.g. progress, decision.")
    meta: dict[str, Any] = Field(
        default_factory=dict,
        description="Structured details (a JSON object). Put your own clock in meta.occurred_at.",
    )


class Entry(BaseModel):
    namespace: str
    project: str
    seq: int = Field(description="Gap-free position in the project's journal, from 1.")
    ts: datetime = Field(description="Server-assigned time of the append.")
    agent: str
    session_id: str | None
    status: Status
    emoji: str
    kind: str
    message: str
    meta: dict[str, Any]
    prev_hash: str
    hash: str


class EntryPage(BaseModel):
    entries: list[Entry]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null at the end."
    )
    scanned: int | None = Field(
        default=None, description="Rows examined by a regex filter (bounded by the scan limit)."
    )


class AppendResult(BaseModel):
    project: str
    first_seq: int
    last_seq: int
    head_hash: str
    entries: list[Entry]


class ProjectInfo(BaseModel):
    namespace: str
    name: str
    description: str
    created_at: datetime
    created_by: str
    size: int = Field(description="Number of entries (the head sequence number).")
    head_hash: str


class QueryFilter(BaseModel):
    """Filters for `query_entries`; every one given must match (AND)."""

    model_config = ConfigDict(extra="forbid")

    projects: list[str] | None = Field(default=None, description="Restrict to these projects.")
    agent: str | None = None
    session_id: str | None = None
    status: list[Status] | None = None
    kind: str | None = None
    text: str | None = Field(default=None, description="Full-text: every word must occur.")
    regex: str | None = Field(default=None, description="Python regex on the message (bounded).")
    meta: dict[str, MetaScalar] | None = Field(
        default=None, description="meta keys that must equal these JSON values exactly."
    )
    since: datetime | None = Field(default=None, description="ts >= since")
    until: datetime | None = Field(default=None, description="ts < until")
    seq_min: int | None = Field(default=None, ge=1)
    seq_max: int | None = Field(default=None, ge=1)
    order: Literal["newest", "oldest"] = "newest"
    limit: int = Field(default=50, ge=1)
    cursor: str | None = None


class VerifyReport(BaseModel):
    namespace: str
    project: str
    ok: bool
    checked: int = Field(description="Entries recomputed.")
    size: int = Field(description="The project's recorded head sequence number.")
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = Field(
        default=None,
        description="hash_mismatch (edited), chain_broken, missing (deleted), unexpected "
        "(inserted or duplicated), head_mismatch (tail removed or head edited).",
    )
    detail: str | None = None
