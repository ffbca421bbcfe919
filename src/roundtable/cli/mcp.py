"""`roundtable mcp` as a Typer command (help text, option errors); the work is in
`roundtable.mcp.launch`, which `roundtable.cli.main()` calls directly for plain options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from roundtable.mcp.launch import launch


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
    code = launch(agent, namespace, url, token_file)
    if code:
        raise typer.Exit(code)


def run(argv: list[str]) -> None:
    """`roundtable mcp ARGS` through Typer, without loading the rest of the command line."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command(name="mcp")(mcp)
    app(args=argv, prog_name="roundtable mcp")
