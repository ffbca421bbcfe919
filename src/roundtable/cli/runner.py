"""`roundtable runner`: run work for the server, as a separate process that talks HTTP only.

`roundtable runner ...` is dispatched here by `roundtable.cli.main` (`cli/__init__.py`) before
the rest of the CLI is imported, so a runner process never loads the store or the server code.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Annotated

import typer

from roundtable.cli.common import NamespaceOpt, TokenOpt, UrlOpt, err, fail, target
from roundtable.errors import InvalidInput, RoundtableError


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def runner(
    tags: Annotated[
        str, typer.Option("--tags", help="Comma-separated tags (blueprints' demands match them).")
    ] = "",
    capacity: Annotated[
        int, typer.Option("--capacity", min=1, help="Runs executed at the same time.")
    ] = 4,
    executors: Annotated[
        str, typer.Option("--executors", help="Comma-separated executor kinds to offer.")
    ] = "echo,script",
    name: Annotated[
        str | None, typer.Option("--name", help="Runner name (default: the host name).")
    ] = None,
    poll_wait: Annotated[
        float, typer.Option("--poll-wait", min=0, help="Seconds one claim long-poll waits.")
    ] = 10.0,
    grace: Annotated[
        float,
        typer.Option("--grace", min=0, help="On SIGTERM/SIGINT, seconds running runs may finish."),
    ] = 30.0,
    log_level: Annotated[
        str, typer.Option("--log-level", help="debug, info, warning or error.")
    ] = "info",
    secrets_file: Annotated[
        str | None,
        typer.Option(
            "--secrets-file",
            envvar="ROUNDTABLE_RUNNER_SECRETS_FILE",
            help="JSON file of MCP secrets (mode 0600); else env vars.",
        ),
    ] = None,
    mcp_servers_file: Annotated[
        str | None,
        typer.Option(
            "--mcp-servers-file", help="YAML/JSON list of MCP servers only this runner has."
        ),
    ] = None,
    mcp_idle: Annotated[
        float, typer.Option("--mcp-idle", min=1, help="Seconds before an idle upstream is closed.")
    ] = 300.0,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Register with the server and execute the runs it hands out until stopped.

    Needs the admin token or an agent token allowed to register runners. SIGTERM or Ctrl-C
    stops claiming, lets running runs finish for --grace seconds, stops the rest and leaves;
    a second Ctrl-C stops them at once."""
    from roundtable.runner import RunnerConfig, serve

    t = target(url=url, token=token, namespace=namespace)
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # One line per HTTP request would drown the runner's own log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        if not t.token:
            raise InvalidInput("a runner needs a token: --token or ROUNDTABLE_TOKEN", field="token")
        config = RunnerConfig(
            url=t.url,
            token=t.token,
            namespace=t.namespace,
            name=name or socket.gethostname(),
            tags=_split(tags),
            executors=_split(executors),
            capacity=capacity,
            poll_wait=poll_wait,
            grace_seconds=grace,
            secrets_file=secrets_file,
            mcp_servers_file=mcp_servers_file,
            mcp_idle_seconds=mcp_idle,
        )
        err.print(f"runner {config.name} for {config.url} (namespace {config.namespace})")
        asyncio.run(serve(config))
    except RoundtableError as error:
        raise fail(error) from None


def main() -> None:
    """Entry point for `roundtable runner` alone (see `cli/__init__.py`)."""
    app = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
    app.command(name="runner")(runner)
    app(prog_name="roundtable runner")
