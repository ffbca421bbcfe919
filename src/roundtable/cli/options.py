"""Arguments and output the orchestration commands share (`agent`, `blueprint`, `schema`).

Typer reads a command's options from its signature, so the declarations are shared as
`Annotated` types, and the "JSON for scripts, a table for people" choice as one helper.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import RenderableType

from roundtable.cli.common import err, out, print_json, target
from roundtable.client.http import RoundtableClient

T = TypeVar("T")

SessionIdArg = Annotated[str, typer.Argument(help="Session id.")]
ParentIdArg = Annotated[str, typer.Argument(help="Parent session id.")]


def call(
    url: str | None,
    token: str | None,
    namespace: str | None,
    fn: Callable[[RoundtableClient], Awaitable[T]],
) -> T:
    """Resolve the target from the options and run one request against it."""
    return target(url=url, token=token, namespace=namespace).call(fn)


def print_found(
    found: Any,
    json_: bool,
    render: Callable[[Any], RenderableType],
    empty: str | None = None,
) -> None:
    """JSON for scripts; for people `render(found)`, or `empty` on stderr when nothing is found."""
    if json_:
        print_json(found)
    elif not found and empty is not None:
        err.print(empty)
    else:
        out.print(render(found))


def print_document(found: Any) -> None:
    """One object as indented JSON: what `show` commands print, and `apply`/`register` read."""
    typer.echo(json.dumps(found, indent=2, ensure_ascii=False))
