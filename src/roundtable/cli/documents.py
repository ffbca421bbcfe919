"""`roundtable doc put|get|edit|ls|search|rm|promote|demote`: the context store, over HTTP.

With the admin token the caller is a person: new documents default to persistent and
namespace-wide (D6). With a tree-scoped agent token they go to that tree, temporal.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from roundtable.cli.common import JsonOpt, NamespaceOpt, TokenOpt, UrlOpt, print_json, target
from roundtable.client.documents import DocumentsClient
from roundtable.client.http import RoundtableClient
from roundtable.documents.models import (
    DocumentInfo,
    DocumentPage,
    EditResult,
    Lifecycle,
    SearchPage,
)

app = typer.Typer(help="Shared documents: put, read, edit, search.", no_args_is_help=True)

ExpectOpt = Annotated[
    int | None,
    typer.Option("--expect", help="Fail (exit 4) unless the document is at this version."),
]
SessionOpt = Annotated[
    str | None, typer.Option("--session", help="Act from inside this session's tree.")
]
TagOpt = Annotated[list[str] | None, typer.Option("--tag", "-t", help="A tag (repeatable).")]
TypeOpt = Annotated[str | None, typer.Option("--type", help="Content type, e.g. text/markdown.")]
LifeOpt = Annotated[Lifecycle | None, typer.Option("--lifecycle", help="temporal or persistent.")]
ScopeOpt = Annotated[
    str | None, typer.Option("--scope", help="namespace, or tree (needs --session).")
]
TreeOpt = Annotated[str | None, typer.Option("--tree", help="Only this root session's tree.")]
LimitOpt = Annotated[int, typer.Option("--limit", help="Items per page.")]
CursorOpt = Annotated[str | None, typer.Option("--cursor", help="next_cursor of a page.")]
RefArg = Annotated[str, typer.Argument(help="Document id or name.")]


def _call(url: str | None, token: str | None, namespace: str | None, fn: Any) -> Any:
    t = target(url=url, token=token, namespace=namespace)

    async def work(client: RoundtableClient) -> Any:
        return await fn(DocumentsClient(client))

    return t.call(work)


def _show(result: Any, json_: bool, human: Callable[[Any], None]) -> None:
    """Print `result` as JSON for scripts, or the way `human` prints it for people."""
    if json_:
        print_json(result)
    else:
        human(result)


def _more(next_cursor: str | None) -> None:
    if next_cursor:
        typer.echo(f"more: --cursor {next_cursor}", err=True)


def _line(d: DocumentInfo) -> str:
    """One document in 80 columns: id, name, lifecycle, scope (ns or tree), version."""
    name = d.name if len(d.name) <= 18 else d.name[:17] + "…"
    scope = "ns" if d.root_session is None else "tree"
    return f"{d.id}  {name:<18} {d.lifecycle.value:<10} {scope:<4} v{d.version}"


def _info(d: DocumentInfo) -> None:
    where = "namespace" if d.root_session is None else f"tree {d.root_session}"
    typer.echo(f"{d.name}  v{d.version}  {d.lifecycle.value}  {where}  {d.length} chars")
    typer.echo(f"id {d.id}")


@app.command("put")
def put(
    name: Annotated[str, typer.Argument(help="Document name (unique in its scope).")],
    file: Annotated[
        Path | None, typer.Argument(help="File with the content; '-' or omitted: stdin.")
    ] = None,
    content_type: TypeOpt = None,
    tags: TagOpt = None,
    meta: Annotated[str | None, typer.Option("--meta", help="Metadata, a JSON object.")] = None,
    lifecycle: LifeOpt = None,
    scope: ScopeOpt = None,
    session: SessionOpt = None,
    expect: ExpectOpt = None,
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Create document NAME, or replace its content (a new version)."""
    try:
        raw = sys.stdin.buffer.read() if file is None or str(file) == "-" else file.read_bytes()
        content = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise typer.BadParameter(f"content is not UTF-8: {exc}") from None
    metadata = json.loads(meta) if meta else None
    if metadata is not None and not isinstance(metadata, dict):
        raise typer.BadParameter("--meta must be a JSON object")
    fields = {
        "content_type": content_type,
        "tags": tags,
        "metadata": metadata,
        "lifecycle": lifecycle.value if lifecycle else None,
        "scope": scope,
        "session_id": session,
        "expected_version": expect,
    }
    _show(_call(url, token, namespace, lambda c: c.put(name, content, **fields)), json_, _info)


@app.command("get")
def get(
    ref: RefArg,
    offset: Annotated[int, typer.Option("--offset", help="First character.")] = 0,
    limit: Annotated[int | None, typer.Option("--limit", help="At most N characters.")] = None,
    session: SessionOpt = None,
    tree: TreeOpt = None,
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Print a document's content (or a character range of it)."""
    doc = _call(
        url,
        token,
        namespace,
        lambda c: c.get(ref, offset=offset, limit=limit, session_id=session, root_session=tree),
    )
    _show(doc, json_, lambda d: typer.echo(d.content, nl=not d.content.endswith("\n")))


@app.command("edit")
def edit(
    ref: RefArg,
    new: Annotated[str, typer.Option("--new", help="Replacement text ('' deletes).")] = "",
    old: Annotated[str | None, typer.Option("--old", help="Exact text to replace.")] = None,
    replace_all: Annotated[bool, typer.Option("--all", help="Replace every --old.")] = False,
    offset: Annotated[int | None, typer.Option("--offset", help="Or edit here.")] = None,
    length: Annotated[int, typer.Option("--length", help="Characters at --offset.")] = 0,
    session: SessionOpt = None,
    expect: ExpectOpt = None,
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Edit part of a document: --old/--new, or --offset/--length/--new."""
    fields = {
        "old": old,
        "new": new,
        "replace_all": replace_all or None,
        "offset": offset,
        "length": length or None,
        "expected_version": expect,
        "session_id": session,
    }
    result = _call(url, token, namespace, lambda c: c.edit(ref, **fields))
    _show(result, json_, _edited)


def _edited(result: EditResult) -> None:
    d = result.document
    typer.echo(f"{d.name}: {result.replaced} change(s), now v{d.version}, {d.length} chars")


def _page_filters(
    tags: list[str] | None,
    content_type: str | None,
    lifecycle: Lifecycle | None,
    scope: str | None,
    session: str | None,
    tree: str | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """The query of `ls` and `search`, named as the client takes it."""
    return {
        "tags": tags,
        "content_type": content_type,
        "lifecycle": lifecycle.value if lifecycle is not None else None,
        "scope": scope,
        "session_id": session,
        "root_session": tree,
        "limit": limit,
        "cursor": cursor,
    }


def _print_documents(page: DocumentPage) -> None:
    for d in page.documents:
        typer.echo(_line(d))
    _more(page.next_cursor)


def _print_hits(page: SearchPage) -> None:
    for hit in page.hits:
        typer.echo(_line(hit.document))
        typer.echo("    " + " ".join(hit.snippet.split())[:76])
    _more(page.next_cursor)


@app.command("ls")
def ls(
    tags: TagOpt = None,
    content_type: TypeOpt = None,
    lifecycle: LifeOpt = None,
    scope: ScopeOpt = None,
    session: SessionOpt = None,
    tree: TreeOpt = None,
    limit: LimitOpt = 50,
    cursor: CursorOpt = None,
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """List the documents you can see, oldest first."""
    filters = _page_filters(tags, content_type, lifecycle, scope, session, tree, limit, cursor)
    _show(_call(url, token, namespace, lambda c: c.list(**filters)), json_, _print_documents)


@app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="Words; all must occur.")],
    tags: TagOpt = None,
    content_type: TypeOpt = None,
    lifecycle: LifeOpt = None,
    scope: ScopeOpt = None,
    session: SessionOpt = None,
    tree: TreeOpt = None,
    limit: LimitOpt = 20,
    cursor: CursorOpt = None,
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Ranked full-text search, best first, with a snippet per hit."""
    filters = _page_filters(tags, content_type, lifecycle, scope, session, tree, limit, cursor)
    _show(_call(url, token, namespace, lambda c: c.search(query, **filters)), json_, _print_hits)


@app.command("rm")
def rm(
    ref: RefArg,
    expect: ExpectOpt = None,
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Delete a document and its children (parent-child links)."""
    result = _call(url, token, namespace, lambda c: c.delete(ref, expected_version=expect))
    _show(result, json_, lambda r: typer.echo(f"deleted {len(r.deleted)} document(s)"))


def _lifecycle_command(life: Lifecycle, summary: str) -> Callable[..., None]:
    """`promote` and `demote`: the same command, to the other lifecycle."""

    def command(
        ref: RefArg,
        expect: ExpectOpt = None,
        json_: JsonOpt = False,
        namespace: NamespaceOpt = None,
        token: TokenOpt = None,
        url: UrlOpt = None,
    ) -> None:
        doc = _call(
            url,
            token,
            namespace,
            lambda c: c.set_lifecycle(ref, life.value, expected_version=expect),
        )
        _show(doc, json_, _info)

    command.__doc__ = summary
    return command


app.command("promote")(
    _lifecycle_command(
        Lifecycle.PERSISTENT, "Make a document persistent: it outlives its session tree."
    )
)
app.command("demote")(
    _lifecycle_command(
        Lifecycle.TEMPORAL, "Make a tree's document temporal again: it goes with its tree."
    )
)
