"""The `roundtable` command line: server processes here, client commands in sibling modules."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import sys

import typer

from roundtable import __version__, logs
from roundtable.cli import (
    agents,
    blueprints,
    documents,
    events,
    helpfmt,
    keys,
    log,
    projects,
    schemas,
    sessions,
    tokens,
)
from roundtable.cli.backup import register as register_backup
from roundtable.cli.checkpoint import checkpoint
from roundtable.cli.common import err, fail, load_settings
from roundtable.cli.mcp import mcp
from roundtable.cli.mcp_servers import app as mcp_servers_app
from roundtable.cli.proof import proof
from roundtable.cli.rotation import register as register_rotation
from roundtable.cli.runner import runner
from roundtable.cli.transfer import register as register_transfer
from roundtable.cli.verify import verify, verify_export
from roundtable.cli.witness import witness
from roundtable.errors import RoundtableError

helpfmt.install()

app = typer.Typer(
    name="roundtable",
    help="Coordination and audit server for teams of AI agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(sessions.app, name="session")
app.add_typer(projects.app, name="project")
app.add_typer(log.app, name="log")
app.add_typer(tokens.app, name="token")
app.add_typer(events.app, name="events")
app.add_typer(blueprints.app, name="blueprint")
app.add_typer(agents.app, name="agent")
app.add_typer(documents.app, name="doc")
app.add_typer(schemas.app, name="schema")
app.add_typer(mcp_servers_app, name="mcp-server")
app.command("verify")(verify)
app.command("verify-export")(verify_export)
app.command("witness")(witness)
app.command("checkpoint")(checkpoint)
app.add_typer(keys.app, name="keys")
app.command("proof")(proof)
app.command("mcp")(mcp)  # `roundtable mcp` alone skips this module: see roundtable.cli.main()
app.command("runner")(runner)
register_transfer(app)  # export, import jsonl, import scribe
register_rotation(app, log.app, projects.app)  # rotate, log render, project mirror
register_backup(app)  # backup, restore

__all__ = ["app", "err", "fail", "load_settings", "main"]


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"roundtable {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        "-V",
        callback=_print_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """Coordination and audit server for teams of AI agents."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    host: str | None = typer.Option(
        None, help="Bind address (env: ROUNDTABLE_HOST; default: 127.0.0.1)."
    ),
    port: int | None = typer.Option(None, help="Port (env: ROUNDTABLE_PORT; default: 8765)."),
) -> None:
    """Run the HTTP API, the MCP endpoint (/mcp) and the session sweeper (Ctrl-C stops it)."""
    from roundtable.api.app import create_app
    from roundtable.api.server import run

    settings = load_settings(host=host, port=port)
    logs.configure(settings.log_format, settings.log_level or "INFO")
    if settings.auth_disabled and not _is_loopback(settings.host):
        err.print(
            f"[red]refusing to bind {settings.host}:[/red] authentication is disabled "
            "(ROUNDTABLE_AUTH_DISABLED); bind 127.0.0.1 or enable auth"
        )
        raise typer.Exit(2)
    # One line whatever the width, terminal or not: logs and scripts read it whole.
    banner = (
        f"Roundtable {__version__} on http://{settings.host}:{settings.port} "
        f"(database: {'SQLite' if settings.is_sqlite else 'PostgreSQL'}, "
        f"data: {settings.data_dir}); Ctrl-C to stop"
    )
    if settings.log_format == "json":
        logging.getLogger("roundtable").info(banner)
    else:
        err.print(banner, soft_wrap=True, highlight=False)
    run(create_app(settings), settings)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (the server also does this on start)."""
    from roundtable.store import migrate
    from roundtable.store.engine import Database

    settings = load_settings()

    async def run() -> str | None:
        db = Database(
            settings.effective_database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms
        )
        try:
            await migrate.upgrade(db)
            return await migrate.current_revision(db)
        finally:
            await db.close()

    revision = asyncio.run(run())
    err.print(f"database at revision {revision}")


def main() -> None:
    # Everything this process creates (database, archives, mirrors, state, keys) is private to
    # its user: journals are not for other local accounts to read.
    os.umask(os.umask(0o077) | 0o077)
    try:
        app()
    except RoundtableError as error:
        err.print(f"[red]{error.code}:[/red] {error.message}")
        sys.exit(error.exit_code)
