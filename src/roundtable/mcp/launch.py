"""Start `roundtable mcp`: the local stdio server, or the bridge when a server URL is set.

Kept free of the CLI framework: `roundtable mcp` with plain options is parsed here with argparse
(`parse`) so an MCP client's launch loads neither Typer nor the rest of the command line; help
and anything unusual go through Typer (`roundtable.cli.mcp`), which calls the same `launch`.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from roundtable.config import Settings
    from roundtable.mcp.front import Front

#: Settings that name a database; with none of them `roundtable mcp` says which one it opened.
_DATABASE_SETTINGS = ("ROUNDTABLE_DATA_DIR", "ROUNDTABLE_DATABASE_URL")


def parse(argv: list[str]) -> dict[str, Any] | None:
    """The options of `roundtable mcp ARGV`, or None when Typer should handle them (help, typos)."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for name in ("--agent", "--namespace", "--url"):
        parser.add_argument(name)
    parser.add_argument("--token-file", type=Path)
    try:
        options, rest = parser.parse_known_args(argv)
    except SystemExit:
        return None
    if rest:
        return None
    return vars(options)


def launch(
    agent: str | None = None,
    namespace: str | None = None,
    url: str | None = None,
    token_file: Path | None = None,
) -> int:
    """Run until stdin closes; the process's exit code.

    The local server starts its fast front (`front`) before anything heavy is imported, so
    the client's `initialize` and `tools/list` are answered while the rest loads."""
    front = None
    if not url and not os.environ.get("ROUNDTABLE_URL"):
        from roundtable.mcp.front import Front

        front = Front.start_front()
    try:
        return _launch(front, agent, namespace, url, token_file)
    except BaseException as exc:
        if front is not None:
            front.fail(f"roundtable mcp stopped: {type(exc).__name__}: {exc}")
        raise


def _launch(
    front: Front | None,
    agent: str | None,
    namespace: str | None,
    url: str | None,
    token_file: Path | None,
) -> int:
    import asyncio

    from pydantic import ValidationError

    from roundtable.config import Settings, explain

    given = {k: v for k, v in {"agent": agent, "namespace": namespace, "url": url}.items() if v}
    try:
        settings = Settings(**given)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = [f"configuration error: {line}" for line in explain(exc, options=given.keys())]
        for line in lines:
            print(line, file=sys.stderr)
        if front is not None:  # it has answered `initialize`: say why nothing else works
            front.fail("roundtable mcp cannot start: " + "; ".join(lines))
            front.wait_closed()
        return 2
    if settings.url:
        return _bridge(settings, token_file)
    _say_which_database(settings)
    from roundtable import logs, metrics
    from roundtable.mcp.stdio import serve_stdio

    logs.configure(settings.log_format, settings.log_level or "WARNING")
    if metrics.multiprocess_dir() is None:  # then no endpoint could ever read our numbers
        metrics.silence()
    asyncio.run(serve_stdio(settings, front))
    return 0


def _bridge(settings: Settings, token_file: Path | None) -> int:
    import asyncio

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
    address = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    try:
        with socket.create_connection((address, port), 0.1):
            return True
    except OSError:
        return False
