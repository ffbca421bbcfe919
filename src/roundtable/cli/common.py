"""What every command shares: settings, the server to call and as whom, output and failure.

Client commands talk HTTP to `roundtable serve`; they never open the database. Output for people
goes to stdout as Rich text, `--json` output goes to stdout as plain JSON, and every error goes to
stderr with the exit code its domain error class defines (`errors.py`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import jwt
import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from roundtable.client.http import RoundtableClient
from roundtable.config import Settings, explain
from roundtable.errors import InvalidInput, RoundtableError
from roundtable.validation import check_name

T = TypeVar("T")

# Rich looks up sys.stdout/sys.stderr when printing, so test runners that swap them still capture.
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

UrlOpt = Annotated[
    str | None,
    typer.Option("--url", help="Server URL (env: ROUNDTABLE_URL; default: http://HOST:PORT)."),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token",
        help="Bearer token (env: ROUNDTABLE_TOKEN; default: the admin token in DATA_DIR).",
    ),
]
NamespaceOpt = Annotated[
    str | None,
    typer.Option("--namespace", "-n", help="Namespace (env: ROUNDTABLE_NAMESPACE)."),
]
AgentOpt = Annotated[
    str | None,
    typer.Option(
        "--agent",
        "-a",
        help="Agent to act as (env: ROUNDTABLE_AGENT; default: the agent token's own).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead.")]


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with command-line options on top; bad values exit 2."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)  # type: ignore[arg-type]
    except ValidationError as exc:
        for line in explain(exc, options=given.keys()):
            err.print(f"[red]configuration error:[/red] {escape(line)}", soft_wrap=True)
        raise typer.Exit(2) from None


def fail(error: RoundtableError) -> typer.Exit:
    """Print the error's code, message and data on stderr; the Exit carries its exit code."""
    # soft_wrap: a message is one line however narrow the terminal, so it greps and pastes whole.
    err.print(f"[red]{error.code}:[/red] {escape(error.message)}", soft_wrap=True)
    for key, value in error.data.items():
        err.print(f"  {key}: {escape(str(value))}", soft_wrap=True)
    return typer.Exit(error.exit_code)


def progress_bar(description: str = "{task.description}") -> Progress:
    """The bar long commands (verify, rotate, import, export) draw on stderr, gone when done."""
    return Progress(
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def run(work: Awaitable[T]) -> T:
    """Run a command's async body; a domain error becomes its message and exit code."""

    async def main() -> T:
        return await work

    try:
        return asyncio.run(main())
    except RoundtableError as error:
        raise fail(error) from None


def _unverified_claims(token: str | None) -> dict[str, Any]:
    """The claims of an agent JWT, read without verification: only to address requests.

    The server verifies the token on every call; here the claims just tell the CLI which agent
    and namespace an agent token stands for, so users need not repeat them.
    """
    if not token:
        return {}
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return claims


@dataclass(frozen=True)
class Target:
    """The server to call, the credentials, and the namespace and agent to act in."""

    settings: Settings
    url: str
    token: str | None
    namespace: str
    agent: str | None

    def client(self) -> RoundtableClient:
        return RoundtableClient(self.url, self.token, self.namespace)

    def with_agent(self, agent: str) -> Target:
        """The same target acting as `agent` (e.g. the agent the server answered for)."""
        return Target(self.settings, self.url, self.token, self.namespace, agent)

    def require_agent(self) -> str:
        if self.agent is None:
            raise InvalidInput(
                "name the agent to act as: --agent or ROUNDTABLE_AGENT", field="agent"
            )
        return check_name("agent", self.agent)

    def call(self, fn: Callable[[RoundtableClient], Awaitable[T]]) -> T:
        """Open a client, run `fn` with it, and close it; errors exit as `run` describes."""

        async def work() -> T:
            async with self.client() as client:
                return await fn(client)

        return run(work())


def admin_token(settings: Settings) -> str | None:
    """The admin token of the local data directory, if there is one (never created here)."""
    if settings.admin_token:
        return settings.admin_token
    path = settings.data_dir / "admin.token"
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def target(
    *,
    url: str | None = None,
    token: str | None = None,
    namespace: str | None = None,
    agent: str | None = None,
) -> Target:
    """Resolve options, environment and the data directory into whom to call and as whom.

    Token: --token, ROUNDTABLE_TOKEN, then the admin token. Agent: --agent, ROUNDTABLE_AGENT,
    then an agent token's own. Namespace: --namespace, ROUNDTABLE_NAMESPACE, then an agent
    token's own, then `default`.
    """
    settings = load_settings(url=url, token=token, namespace=namespace, agent=agent)
    bearer = settings.token or admin_token(settings)
    claims = _unverified_claims(bearer)
    ns = settings.namespace
    if "namespace" not in settings.model_fields_set and isinstance(claims.get("ns"), str):
        ns = claims["ns"]
    who = settings.agent or (claims["sub"] if isinstance(claims.get("sub"), str) else None)
    try:
        check_name("namespace", ns)
    except RoundtableError as error:
        raise fail(error) from None
    return Target(settings=settings, url=settings.server_url, token=bearer, namespace=ns, agent=who)


def print_json(data: Any) -> None:
    """One JSON document on stdout (pydantic models and lists of them are dumped as JSON)."""
    typer.echo(json.dumps(_jsonable(data), ensure_ascii=False))


def _jsonable(data: Any) -> Any:
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, list):
        return [_jsonable(item) for item in data]
    if isinstance(data, dict):
        return {key: _jsonable(value) for key, value in data.items()}
    return data
