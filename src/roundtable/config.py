"""Settings: one object, read from `ROUNDTABLE_*` environment variables, never at import time.

Every field here is documented in `docs/configuration.md`; a test checks that the two agree.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """`$XDG_DATA_HOME/roundtable`, falling back to `~/.local/share/roundtable` (XDG spec)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "roundtable"


#: The MCP tool groups `ROUNDTABLE_MCP_TOOLS` chooses from (the session tools are always on).
MCP_TOOL_GROUPS = ("journal", "proofs", "events", "orchestration", "schemas", "documents")


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
    mcp_tools: str = Field(
        default="all",
        description="Tool groups offered over MCP, comma-separated (the session tools always).",
    )
    mcp_front: bool = Field(
        default=True,
        description="`roundtable mcp` answers initialize and tools/list from its recorded snapshot.",
    )
    admin_token: str | None = Field(
        default=None, description="Overrides the admin token file in the data directory."
    )
    auth_disabled: bool = Field(
        default=False, description="Serve without authentication (loopback binds only)."
    )
    access_log: bool = Field(
        default=False, description="`roundtable serve` logs one line per request on stderr."
    )

    session_ttl_seconds: float = Field(default=900.0, gt=0)
    session_renew_fraction: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="A call naming a session rewrites its lease only when less than this "
        "fraction of the TTL is left (1: on every call).",
    )
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
    max_run_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="Largest orchestration or schema request body (blueprints, runs, reports).",
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
    event_fanout_window_seconds: float = Field(default=0.015, ge=0)
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

    # Operations
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Also serve GET /metrics without a token on 127.0.0.1:PORT (loopback only).",
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="json: one JSON object per log line, for every logger."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None = Field(
        default=None, description="Default: INFO for `serve`, WARNING for `mcp`."
    )

    # Orchestration (issue 9)
    max_tree_depth: int = Field(default=5, ge=0)
    max_children: int = Field(default=50, ge=0)
    run_queue_timeout: float = Field(default=600.0, gt=0)
    run_lease_seconds: float = Field(default=60.0, gt=0)
    runner_heartbeat_seconds: float = Field(default=10.0, gt=0)
    run_max_attempts: int = Field(default=3, ge=1)
    run_token_ttl_seconds: int = Field(default=3600, ge=60)
    # Context store (D6, D7)
    document_max_bytes: int = Field(default=2 * 1024 * 1024, ge=1)
    document_retention_seconds: float = Field(default=7 * 86_400.0, ge=0)
    document_sweep_batch: int = Field(default=500, ge=1)

    # Structured output (issue 10)
    output_retries_default: int = Field(
        default=2,
        ge=0,
        description="Retries of an invalid output when neither run nor blueprint say.",
    )
    output_retries_max: int = Field(
        default=5, ge=0, description="Cap on the retries a run or blueprint may ask for."
    )

    @field_validator("mcp_tools")
    @classmethod
    def _known_tool_groups(cls, value: str) -> str:
        groups = {g.strip() for g in value.split(",") if g.strip()}
        unknown = sorted(groups - {"all", *MCP_TOOL_GROUPS})
        if unknown or not groups:
            raise ValueError(
                f"unknown tool group(s) {', '.join(unknown) or '(none given)'}; use all or "
                f"some of {', '.join(MCP_TOOL_GROUPS)}"
            )
        return ",".join(sorted(groups))

    @property
    def mcp_tool_groups(self) -> frozenset[str]:
        """The MCP tool groups to offer (`ROUNDTABLE_MCP_TOOLS`), `all` expanded."""
        groups = set(self.mcp_tools.split(","))
        return frozenset(MCP_TOOL_GROUPS) if "all" in groups else frozenset(groups)

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


ENV_PREFIX = "ROUNDTABLE_"


def explain(error: ValidationError, options: Collection[str] = ()) -> list[str]:
    """One line per bad setting, naming its variable (and its option when one was given).

    `options` are the fields that came from command-line options rather than the environment.
    pydantic's own text names the Python field and links to its docs; people set variables.
    """
    lines = []
    for problem in error.errors(include_url=False):
        field = str(problem["loc"][0]) if problem["loc"] else ""
        name = ENV_PREFIX + field.upper()
        if field in options:
            name = f"--{field.replace('_', '-')} ({name})"
        message = problem["msg"]
        if problem["type"] != "extra_forbidden":
            message += f", got {problem['input']!r}"
        lines.append(f"{name}: {message}")
    return lines
