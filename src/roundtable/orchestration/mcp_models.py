"""The MCP server registry's shapes (D11/D12): where a server is and how the runner reaches it.

Only the *names* of secrets appear here (runner secrets, resolved at the runner from its
environment or secrets file); a value never enters the registry, a run, an event or a response.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: A registry name; `roundtable` is reserved for the server's own MCP endpoint.
SERVER_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"
#: A runner secret's name (looked up as an env var or a key of the runner's secrets file).
SECRET_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
HEADER_NAME = r"^[A-Za-z0-9-]{1,128}$"
TOOL_NAME = r"^[A-Za-z0-9_.*/-]{1,128}$"
RESERVED = "roundtable"

AuthKind = Literal["none", "bearer", "header", "roundtable", "oauth2_client_credentials"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class McpAuth(_Strict):
    """How the runner authenticates to the upstream (the executor never sees the credential).

    - `none`
    - `bearer`: `Authorization: Bearer <secret>`; `header`: `<header>: <secret>`
    - `roundtable`: a JWT the server mints for the run's scope with audience = `audience`
      (default: the server's registry name)
    - `oauth2_client_credentials`: a token from `token_url` with the client id and secret
      named by `client_id_secret` and `client_secret_secret`, cached until it expires
    """

    kind: AuthKind = "none"
    secret: str | None = Field(default=None, pattern=SECRET_NAME)
    header: str | None = Field(default=None, pattern=HEADER_NAME)
    audience: str | None = Field(default=None, max_length=256)
    token_url: str | None = Field(default=None, max_length=2048)
    client_id_secret: str | None = Field(default=None, pattern=SECRET_NAME)
    client_secret_secret: str | None = Field(default=None, pattern=SECRET_NAME)
    scope: str | None = Field(default=None, max_length=1024)

    @model_validator(mode="after")
    def _consistent(self) -> McpAuth:
        need: dict[str, tuple[str, ...]] = {
            "none": (),
            "bearer": ("secret",),
            "header": ("secret", "header"),
            "roundtable": (),
            "oauth2_client_credentials": ("token_url", "client_id_secret", "client_secret_secret"),
        }
        allowed = set(need[self.kind]) | {
            "roundtable": {"audience"},
            "oauth2_client_credentials": {"scope"},
        }.get(self.kind, set())
        for name in need[self.kind]:
            if getattr(self, name) is None:
                raise ValueError(f"auth kind {self.kind!r} needs {name!r}")
        for name in (
            "secret",
            "header",
            "audience",
            "token_url",
            "client_id_secret",
            "client_secret_secret",
            "scope",
        ):
            if getattr(self, name) is not None and name not in allowed:
                raise ValueError(f"auth kind {self.kind!r} does not take {name!r}")
        if self.token_url is not None:
            _check_url(self.token_url, "token_url")
        return self


def _check_url(url: str, what: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an http(s) URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{what} must not carry credentials; name a runner secret in auth")


class McpServerSpec(_Strict):
    """One registry entry as people write it (YAML/JSON); unknown fields refused."""

    name: str = Field(pattern=SERVER_NAME)
    description: str = Field(default="", max_length=4096)
    transport: Literal["http", "stdio"]
    url: str | None = Field(default=None, max_length=2048, description="http: the MCP endpoint")
    command: str | None = Field(default=None, max_length=4096, description="stdio: program")
    args: list[str] = Field(default_factory=list, max_length=256)
    env: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="stdio: NAMES of runner secrets passed to the process as env vars",
    )
    auth: McpAuth = Field(default_factory=McpAuth)
    allow_tools: list[str] | None = Field(
        default=None, description="Only these tools (glob patterns); null = all"
    )
    deny_tools: list[str] = Field(default_factory=list, description="Never these (glob patterns)")
    log_arguments: bool = Field(
        default=False, description="Safe to record call arguments in events (default: never)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> McpServerSpec:
        import re

        if self.name == RESERVED:
            raise ValueError(f"{RESERVED!r} is the server's own MCP endpoint; pick another name")
        if self.transport == "http":
            if self.url is None:
                raise ValueError("transport 'http' needs 'url'")
            _check_url(self.url, "url")
            if self.command is not None or self.args or self.env:
                raise ValueError("transport 'http' takes no 'command', 'args' or 'env'")
        else:
            if not self.command:
                raise ValueError("transport 'stdio' needs 'command'")
            if self.url is not None:
                raise ValueError("transport 'stdio' takes no 'url'")
            if self.auth.kind != "none":
                raise ValueError("a stdio server gets its credentials through 'env' names")
        for name in self.env:
            if not re.fullmatch(SECRET_NAME, name):
                raise ValueError(f"env entry {name!r} is not a secret NAME (A-Z, 0-9, _)")
        for pattern in [*(self.allow_tools or []), *self.deny_tools]:
            if not re.fullmatch(TOOL_NAME, pattern):
                raise ValueError(f"tool pattern {pattern!r} is not valid")
        return self


class McpServerInfo(McpServerSpec):
    version: int
    created_at: datetime
    updated_at: datetime
    changed: bool = False


class McpServerList(BaseModel):
    mcp_servers: list[McpServerInfo]
