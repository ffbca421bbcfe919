"""`roundtable blueprint list|show|apply|delete`: agent definitions, kept in files, over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from roundtable.cli.common import JsonOpt, NamespaceOpt, TokenOpt, UrlOpt, err, out, print_json
from roundtable.cli.common import target as resolve
from roundtable.cli.options import call, print_document, print_found
from roundtable.client import blueprints as files
from roundtable.client.http import RoundtableClient
from roundtable.client.orchestration import Orchestration

app = typer.Typer(
    help="Agent definitions (blueprints): list, show, apply files, delete.", no_args_is_help=True
)


def _table(blueprints: list[dict[str, Any]]) -> Table:
    table = Table()
    table.add_column("name", style="bold", overflow="fold")
    table.add_column("ver", justify="right")
    table.add_column("executor", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("description", overflow="ellipsis", no_wrap=True, max_width=36)
    for bp in blueprints:
        status = str(bp.get("status", ""))
        table.add_row(
            Text(str(bp["name"])),
            str(bp.get("version", "")),
            Text(str((bp.get("executor") or {}).get("kind", ""))),
            Text(status, style="green" if status == "active" else "yellow"),
            Text(str(bp.get("description") or "")),
        )
    return table


@app.command("list")
def list_(
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """List the namespace's blueprints."""
    found = call(url, token, namespace, lambda c: Orchestration(c).list_blueprints())
    print_found(found, json_, _table, empty="no blueprints")


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Blueprint name.")],
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Print one blueprint as JSON (the form `apply` accepts, plus version and timestamps)."""
    print_document(call(url, token, namespace, lambda c: Orchestration(c).get_blueprint(name)))


@app.command("apply")
def apply(
    paths: Annotated[
        list[Path],
        typer.Option(
            "--file", "-f", help="YAML or JSON file, or a directory of them (repeatable)."
        ),
    ],
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Create or update blueprints from files; unchanged ones are left as they are.

    Every file is read and checked before anything is sent. Applying the same files again
    changes nothing, so this is safe to run from CI on a repository of agent definitions."""
    t = resolve(url=url, token=token, namespace=namespace)

    async def work(client: RoundtableClient) -> list[dict[str, Any]]:
        loaded = files.load(paths)
        api = Orchestration(client)
        applied: list[dict[str, Any]] = []
        for blueprint in loaded:
            info = await api.put_blueprint(blueprint.spec)
            info["source"] = blueprint.source
            applied.append(info)
            if not json_:
                verb = "unchanged" if not info.get("changed", True) else "applied"
                out.print(
                    Text.assemble(
                        (f"{verb:9} ", "dim" if verb == "unchanged" else "green"),
                        (str(info["name"]), "bold"),
                        f" v{info.get('version', '?')}",
                        (f"  {blueprint.source}", "dim"),
                    )
                )
        return applied

    applied = t.call(work)
    if json_:
        print_json(applied)


@app.command("delete")
def delete(
    name: Annotated[str, typer.Argument(help="Blueprint name.")],
    expected_version: Annotated[
        int | None,
        typer.Option("--expected-version", help="Refuse (conflict) if it changed since."),
    ] = None,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Delete a blueprint (sessions already started from it keep their copy of it)."""
    call(
        url,
        token,
        namespace,
        lambda c: Orchestration(c).delete_blueprint(name, expected_version=expected_version),
    )
    err.print(f"blueprint {name} deleted")
