"""What readers of the event log receive: events, and the two notices that replace a silent gap."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from roundtable.events.catalogue import CATALOGUE_VERSION


class Event(BaseModel):
    id: int
    ts: datetime
    namespace: str
    type: str
    project: str | None
    agent: str | None
    session_id: str | None
    payload: dict[str, Any]
    catalogue_version: int = CATALOGUE_VERSION


class Resync(BaseModel):
    """The requested resume point is older than retention: events in
    (`requested_after`, `pruned_through`] may have been deleted. The stream (or page) continues
    with the oldest still available, i.e. ids > `resume_after` (== `pruned_through`).
    A client holding derived state should rebuild it from current state."""

    kind: Literal["resync"] = "resync"
    requested_after: int
    pruned_through: int
    resume_after: int


class Dropped(BaseModel):
    """Final notice to a subscriber that fell behind its bounded queue: it has been given every
    matching event up to `resume_after`; reconnect with `after=resume_after` (SSE:
    `Last-Event-ID: resume_after`) to continue without loss."""

    kind: Literal["dropped"] = "dropped"
    resume_after: int
    reason: str = "slow_consumer"


#: One item of a live subscription.
StreamItem = Event | Resync | Dropped


class EventPage(BaseModel):
    """A page of events for polling readers (`GET /api/v1/events`, `wait_for_events`)."""

    events: list[Event]
    next_after: int = Field(
        description="Pass as `after`/`since` next time; the id of the last event scanned (it may "
        "be past the last returned one when events were filtered out)."
    )
    resync: Resync | None = Field(
        default=None, description="Set when `after` was older than retention (see Resync)."
    )
