"""`roundtable mcp`: the stdio MCP server, or with a server URL a bridge to that server.

This module is imported on its own for `roundtable mcp` (see `roundtable.cli.main`): MCP clients
start their stdio servers at every launch, so nothing here pulls in the rest of the CLI.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from roundtable.config import Settings

#: Settings that name a database; with none of them `roundtable mcp` says which one it opened.
_DATABASE_SETTINGS = ("ROUNDTABLE_DATA_DIR", "ROUNDTABLE_DATABASE_URL")


def mcp(
    agent: Annotated[
        str | None, typer.Option(help="Agent identity (env: ROUNDTABLE_AGENT).")
    ] = None,
    namespace: Annotated[
        str | None, typer.Option(help="Namespace (env: ROUNDTABLE_NAMESPACE).")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            help="Bridge to the server at this URL instead of opening a database "
            "(env: ROUNDTABLE_URL)."
        ),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(
            help="File holding the bearer token for --url (default: ROUNDTABLE_TOKEN, else the "
            "admin token of the data directory, exchanged for an agent token)."
        ),
    ] = None,
) -> None:
    """Run the MCP server on stdio (launch it from an agent's MCP config)."""
    from roundtable.config import Settings

    try:
        given = {"agent": agent, "namespace": namespace, "url": url}
        settings = Settings(**{k: v for k, v in given.items() if v})  # type: ignore[arg-type]
    except Exception as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    if settings.url:
        raise typer.Exit(_bridge(settings, token_file))
    _say_which_database(settings)
    from roundtable import logs
    from roundtable.mcp.stdio import serve_stdio

    logs.configure(settings.log_format, settings.log_level or "WARNING")

    asyncio.run(serve_stdio(settings))


def _bridge(settings: Settings, token_file: Path | None) -> int:
    from roundtable.mcp.bridge import BridgeError, serve_bridge

    token = settings.token
    if token_file is not None:
        try:
            token = token_file.read_text().strip()
        except OSError as exc:
            print(f"roundtable mcp: cannot read --token-file: {exc}", file=sys.stderr)
            return 2
    if token is None:
        token = settings.admin_token
    if token is None:
        try:
            token = (settings.data_dir / "admin.token").read_text().strip() or None
        except OSError:
            token = None
    try:
        asyncio.run(serve_bridge(settings.server_url, token, settings.agent, settings.namespace))
    except BridgeError as exc:
        print(f"roundtable mcp: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _say_which_database(settings: Settings) -> None:
    """With no setting naming a database, say on stderr which one is opened, and whether a
    server is running that the client probably meant to share (clients may drop variables)."""
    if any(os.environ.get(name) for name in _DATABASE_SETTINGS):
        return
    print(
        f"roundtable mcp: no ROUNDTABLE_URL, ROUNDTABLE_DATA_DIR or ROUNDTABLE_DATABASE_URL set; "
        f"using {settings.effective_database_url} "
        f"(XDG_DATA_HOME={os.environ.get('XDG_DATA_HOME', 'unset')})",
        file=sys.stderr,
        flush=True,
    )
    if _answers(settings.host, settings.port):
        print(
            f"roundtable mcp: a server listens at {settings.server_url}; to share its database "
            "run `roundtable mcp --url URL` (see docs/mcp.md)",
            file=sys.stderr,
            flush=True,
        )


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection(
            ("127.0.0.1" if host in ("0.0.0.0", "::") else host, port), 0.1
        ):
            return True
    except OSError:
        return False


def run(argv: list[str]) -> None:
    """`roundtable mcp ARGS` without loading the rest of the command line."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command(name="mcp")(mcp)
    app(args=argv, prog_name="roundtable mcp")
