"""What session and context calls return, shared by every interface."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class SessionStatus(StrEnum):
    ACTIVE = "active"
    # Orchestrated sessions (started from a blueprint) live by their runs instead of a lease.
    PENDING = "pending"
    RUNNING = "running"
    IDLE = "idle"
    FINISHED = "finished"
    FAILED = "failed"
    STOPPED = "stopped"
    EXPIRED = "expired"


class EndStatus(StrEnum):
    """The statuses an agent may end its own session with."""

    FINISHED = "finished"
    FAILED = "failed"
    STOPPED = "stopped"


class SessionInfo(BaseModel):
    id: str = Field(description="Session id (UUIDv7); pass it to later calls to renew the lease.")
    namespace: str
    agent: str
    parent_id: str | None = None
    root_id: str
    status: SessionStatus
    metadata: dict[str, Any]
    created_at: datetime
    lease_expires_at: datetime
    ended_at: datetime | None = None
    superseded_by: str | None = None


class ContextInfo(BaseModel):
    namespace: str
    agent: str
    project: str | None = Field(description="The agent's current project; null if none is set.")
    version: int = Field(description="Increments on every change; 0 when never set.")
    updated_at: datetime | None = None
    updated_by_session: str | None = None
