"""Settings: one object, read from `ROUNDTABLE_*` environment variables, never at import time.

Every field here is documented in `docs/configuration.md`; a test checks that the two agree.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """`$XDG_DATA_HOME/roundtable`, falling back to `~/.local/share/roundtable` (XDG spec)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "roundtable"


class Settings(BaseSettings):
    """Roundtable's configuration. Errors name the offending `ROUNDTABLE_` key."""

    model_config = SettingsConfigDict(env_prefix="ROUNDTABLE_", extra="forbid")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; unset means SQLite at DATA_DIR/roundtable.db. "
        "postgresql://... selects PostgreSQL (the asyncpg driver is added for you).",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=1, le=65535)
    url: str | None = Field(default=None, description="Server URL used by the CLI.")
    token: str | None = Field(default=None, description="Bearer token the CLI sends.")
    namespace: str = "default"
    agent: str | None = Field(default=None, description="Agent identity for `roundtable mcp`.")
    admin_token: str | None = Field(
        default=None, description="Overrides the admin token file in the data directory."
    )
    auth_disabled: bool = Field(
        default=False, description="Serve without authentication (loopback binds only)."
    )

    session_ttl_seconds: float = Field(default=900.0, gt=0)
    sweep_interval_seconds: float = Field(default=5.0, gt=0)
    max_sessions_per_agent: int = Field(default=16, ge=1)
    max_sessions_per_namespace: int = Field(default=10_000, ge=1)
    write_rate_per_second: float = Field(default=200.0, gt=0)
    write_burst: int = Field(default=400, ge=1)

    max_message_chars: int = Field(default=16_384, ge=1)
    max_meta_bytes: int = Field(default=16_384, ge=2)
    max_batch_entries: int = Field(default=1_000, ge=1)
    max_page_size: int = Field(default=500, ge=1)
    regex_scan_limit: int = Field(default=20_000, ge=1)
    regex_budget_seconds: float = Field(
        default=2.0, gt=0, description="Total regex matching time per query_entries call."
    )
    max_expensive_per_agent: int = Field(
        default=2, ge=1, description="Concurrent expensive queries (regex, verify) per caller."
    )
    max_request_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Largest HTTP request body; larger ones get 413 before they are read.",
    )

    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = "FULL"
    token_default_ttl_seconds: int = Field(default=3600, ge=60)

    # Events (D10)
    event_retention_seconds: float = Field(default=7 * 86_400.0, gt=0)
    event_queue_size: int = Field(default=1_000, ge=1)
    event_heartbeat_seconds: float = Field(default=15.0, gt=0)
    event_poll_seconds: float = Field(default=0.05, gt=0)
    event_fallback_poll_seconds: float = Field(default=2.0, gt=0)
    max_wait_seconds: float = Field(default=60.0, gt=0)

    # Audit (D4, D5)
    log_origin: str = Field(default="roundtable", min_length=1, max_length=200)
    checkpoint_every_entries: int = Field(default=1_000, ge=1)
    checkpoint_every_seconds: float = Field(default=60.0, gt=0)
    trusted_keys: str | None = Field(
        default=None,
        description="Comma-separated key ids of other instances' signing keys (kept in other "
        "data directories) whose checkpoints `verify` accepts.",
    )
    witnesses: str | None = Field(
        default=None,
        description="Witnesses to send every checkpoint to: `<cosignature vkey>@<url>`, "
        "comma-separated (C2SP tlog-witness).",
    )
    rotate_max_entries: int = Field(default=100_000, ge=0)
    rotate_max_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    hot_segments: int | None = Field(default=None, ge=0)
    mirror_allow_absolute: bool = Field(
        default=False, description="Let admins set absolute Markdown mirror paths."
    )

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+asyncpg://" + value[len(prefix) :]
        if value.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + value[len("sqlite:///") :]
        return value

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'roundtable.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def server_url(self) -> str:
        if self.url:
            return self.url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"
