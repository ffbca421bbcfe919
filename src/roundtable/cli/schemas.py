"""`roundtable schema register|list|show|delete`: the registry of output schemas, over HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table
from rich.text import Text

from roundtable.cli.common import JsonOpt, NamespaceOpt, TokenOpt, UrlOpt, err
from roundtable.cli.options import call, print_document, print_found
from roundtable.client.schemas import Schemas
from roundtable.errors import InvalidInput

app = typer.Typer(
    help="Output schemas: register versions, list, show, delete.", no_args_is_help=True
)


def _read(path: Path) -> Any:
    """A JSON or YAML file's content (InvalidInput naming the file otherwise)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", field="file") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            return yaml.safe_load(text)
        return json.loads(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise InvalidInput(f"{path} is not valid JSON or YAML: {exc}", field="file") from None


@app.command("register")
def register(
    name: Annotated[str, typer.Argument(help="Schema name.")],
    path: Annotated[Path, typer.Argument(help="JSON (or YAML) file holding the JSON Schema.")],
    description: Annotated[str, typer.Option(help="What the schema is for.")] = "",
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Register a new version (identical content returns the existing version)."""
    body = call(url, token, namespace, lambda c: _register(c, name, path, description))
    print_found(body, json_, _registered)


def _registered(body: dict[str, Any]) -> Text:
    verb = "registered" if body["created"] else "unchanged"
    return Text.assemble((f"{verb} ", "green"), (str(body["ref"]), "bold"))


async def _register(client: Any, name: str, path: Path, description: str) -> dict[str, Any]:
    return await Schemas(client).register(name, _read(path), description)


@app.command("list")
def list_(
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """List schemas with their versions."""
    found = call(url, token, namespace, lambda c: Schemas(c).list())
    print_found(found, json_, _table, empty="no schemas")


def _table(found: list[dict[str, Any]]) -> Table:
    table = Table()
    table.add_column("name", style="bold", overflow="fold")
    table.add_column("latest", justify="right")
    table.add_column("versions")
    table.add_column("description", overflow="ellipsis", no_wrap=True, max_width=40)
    for item in found:
        table.add_row(
            Text(str(item["name"])),
            str(item["latest"]),
            ",".join(str(v) for v in item["versions"]),
            Text(str(item.get("description") or "")),
        )
    return table


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="NAME (latest) or NAME@VERSION.")],
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Print one version as JSON (with its body under `schema`)."""
    print_document(call(url, token, namespace, lambda c: Schemas(c).get(ref)))


@app.command("delete")
def delete(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION, or NAME for every version.")],
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Delete versions no blueprint, pending run or other schema uses (refused otherwise)."""
    done = call(url, token, namespace, lambda c: Schemas(c).delete(ref))
    err.print(f"schema {done['name']} versions {','.join(map(str, done['versions']))} deleted")
