"""`roundtable mcp-server add|list|show|remove`: the MCP server registry (D11), over HTTP.

Only secret NAMES are given here (`--secret GITHUB_TOKEN`); the values live at the runners
(env vars or their secrets file) and never pass through this command or the server.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from roundtable.cli.common import JsonOpt, NamespaceOpt, TokenOpt, UrlOpt, err, out, print_json
from roundtable.cli.common import target as resolve
from roundtable.client.mcp_servers import McpServers
from roundtable.errors import InvalidInput

app = typer.Typer(
    help="MCP server registry: add (or replace), list, show, remove.", no_args_is_help=True
)


def build_spec(
    name: str,
    *,
    http: str | None,
    stdio: str | None,
    args: list[str],
    env: list[str],
    auth: str,
    secret: str | None,
    header: str | None,
    audience: str | None,
    token_url: str | None,
    client_id_secret: str | None,
    client_secret_secret: str | None,
    scope: str | None,
    allow: list[str] | None,
    deny: list[str],
    description: str,
    log_arguments: bool,
) -> dict[str, Any]:
    """The registry entry the options describe (the server validates it in full)."""
    if (http is None) == (stdio is None):
        raise InvalidInput("give exactly one of --http URL or --stdio COMMAND", field="transport")
    spec: dict[str, Any] = {"name": name, "description": description}
    if http is not None:
        spec |= {"transport": "http", "url": http}
    else:
        spec |= {"transport": "stdio", "command": stdio, "args": args, "env": env}
    fields = {
        "kind": auth,
        "secret": secret,
        "header": header,
        "audience": audience,
        "token_url": token_url,
        "client_id_secret": client_id_secret,
        "client_secret_secret": client_secret_secret,
        "scope": scope,
    }
    spec["auth"] = {k: v for k, v in fields.items() if v is not None}
    spec["allow_tools"] = allow or None
    spec["deny_tools"] = deny
    spec["log_arguments"] = log_arguments
    return spec


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Registry name (blueprints list it in mcp_servers).")],
    http: Annotated[str | None, typer.Option(help="Streamable HTTP endpoint URL.")] = None,
    stdio: Annotated[str | None, typer.Option(help="Program the runner starts (stdio).")] = None,
    arg: Annotated[list[str] | None, typer.Option(help="stdio: an argument (repeat).")] = None,
    env: Annotated[
        list[str] | None, typer.Option(help="stdio: a runner secret NAME passed as env (repeat).")
    ] = None,
    auth: Annotated[
        str, typer.Option(help="none | bearer | header | roundtable | oauth2_client_credentials")
    ] = "none",
    secret: Annotated[str | None, typer.Option(help="bearer/header: runner secret NAME.")] = None,
    header: Annotated[str | None, typer.Option(help="header: the header's name.")] = None,
    audience: Annotated[str | None, typer.Option(help="roundtable: token audience.")] = None,
    token_url: Annotated[str | None, typer.Option(help="oauth2: token endpoint.")] = None,
    client_id_secret: Annotated[str | None, typer.Option(help="oauth2: secret NAME.")] = None,
    client_secret_secret: Annotated[str | None, typer.Option(help="oauth2: secret NAME.")] = None,
    scope: Annotated[str | None, typer.Option(help="oauth2: requested scope.")] = None,
    allow: Annotated[list[str] | None, typer.Option(help="Allowed tool (glob; repeat).")] = None,
    deny: Annotated[list[str] | None, typer.Option(help="Denied tool (glob; repeat).")] = None,
    description: Annotated[str, typer.Option(help="What the server is for.")] = "",
    log_arguments: Annotated[
        bool, typer.Option(help="Record call arguments in events (only if they hold no secrets).")
    ] = False,
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Add a server, or replace the entry of that name (identical content: unchanged)."""

    def spec() -> dict[str, Any]:  # checked inside `call`, so bad options exit 2
        return build_spec(
            name,
            http=http,
            stdio=stdio,
            args=arg or [],
            env=env or [],
            auth=auth,
            secret=secret,
            header=header,
            audience=audience,
            token_url=token_url,
            client_id_secret=client_id_secret,
            client_secret_secret=client_secret_secret,
            scope=scope,
            allow=allow,
            deny=deny or [],
            description=description,
            log_arguments=log_arguments,
        )

    t = resolve(url=url, token=token, namespace=namespace)
    body = t.call(lambda c: McpServers(c).apply(spec()))
    if json_:
        print_json(body)
    else:
        verb = "applied" if body.get("changed") else "unchanged"
        out.print(Text.assemble((f"{verb} ", "green"), (f"{name} v{body['version']}", "bold")))


@app.command("list")
def list_(
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """List the namespace's MCP servers."""
    t = resolve(url=url, token=token, namespace=namespace)
    found = t.call(lambda c: McpServers(c).list())
    if json_:
        print_json(found)
        return
    if not found:
        err.print("no MCP servers")
        return
    table = Table()
    for column in ("name", "ver", "transport", "where", "auth"):
        table.add_column(column, overflow="fold")
    for item in found:
        where = item.get("url") or " ".join([item.get("command") or "", *item.get("args", [])])
        table.add_row(
            Text(str(item["name"]), style="bold"),
            str(item["version"]),
            str(item["transport"]),
            Text(where),
            str(item["auth"]["kind"]),
        )
    out.print(table)


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Registry name.")],
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Print one entry as JSON."""
    t = resolve(url=url, token=token, namespace=namespace)
    typer.echo(json.dumps(t.call(lambda c: McpServers(c).get(name)), indent=2))


@app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="Registry name.")],
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Remove an entry (blueprints naming it then need a runner-local entry)."""
    t = resolve(url=url, token=token, namespace=namespace)
    t.call(lambda c: McpServers(c).remove(name))
    err.print(f"MCP server {name} removed")
