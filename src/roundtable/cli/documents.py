"""`roundtable doc put|get|edit|ls|search|rm|promote|demote`: the context store, over HTTP.

With the admin token the caller is a person: new documents default to persistent and
namespace-wide (D6). With a tree-scoped agent token they go to that tree, temporal.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from roundtable.cli.common import JsonOpt, NamespaceOpt, TokenOpt, UrlOpt, print_json, target
from roundtable.client.documents import DocumentsClient
from roundtable.client.http import RoundtableClient
from roundtable.documents.models import DocumentInfo, Lifecycle

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


def _call(url: str | None, token: str | None, namespace: str | None, fn: Any) -> Any:
    t = target(url=url, token=token, namespace=namespace)

    async def work(client: RoundtableClient) -> Any:
        return await fn(DocumentsClient(client))

    return t.call(work)


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
    doc = _call(url, token, namespace, lambda c: c.put(name, content, **fields))
    if json_:
        print_json(doc)
    else:
        _info(doc)


@app.command("get")
def get(
    ref: Annotated[str, typer.Argument(help="Document id or name.")],
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
    if json_:
        print_json(doc)
        return
    typer.echo(doc.content, nl=not doc.content.endswith("\n"))


@app.command("edit")
def edit(
    ref: Annotated[str, typer.Argument(help="Document id or name.")],
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
    if json_:
        print_json(result)
        return
    d = result.document
    typer.echo(f"{d.name}: {result.replaced} change(s), now v{d.version}, {d.length} chars")


def _page_filters(**kw: Any) -> dict[str, Any]:
    if kw.get("lifecycle") is not None:
        kw["lifecycle"] = kw["lifecycle"].value
    return kw


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
    filters = _page_filters(
        tags=tags,
        content_type=content_type,
        lifecycle=lifecycle,
        scope=scope,
        session_id=session,
        root_session=tree,
        limit=limit,
        cursor=cursor,
    )
    page = _call(url, token, namespace, lambda c: c.list(**filters))
    if json_:
        print_json(page)
        return
    for d in page.documents:
        typer.echo(_line(d))
    if page.next_cursor:
        typer.echo(f"more: --cursor {page.next_cursor}", err=True)


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
    filters = _page_filters(
        tags=tags,
        content_type=content_type,
        lifecycle=lifecycle,
        scope=scope,
        session_id=session,
        root_session=tree,
        limit=limit,
        cursor=cursor,
    )
    page = _call(url, token, namespace, lambda c: c.search(query, **filters))
    if json_:
        print_json(page)
        return
    for hit in page.hits:
        typer.echo(_line(hit.document))
        typer.echo("    " + " ".join(hit.snippet.split())[:76])
    if page.next_cursor:
        typer.echo(f"more: --cursor {page.next_cursor}", err=True)


@app.command("rm")
def rm(
    ref: Annotated[str, typer.Argument(help="Document id or name.")],
    expect: ExpectOpt = None,
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Delete a document and its children (parent-child links)."""
    result = _call(url, token, namespace, lambda c: c.delete(ref, expected_version=expect))
    if json_:
        print_json(result)
        return
    typer.echo(f"deleted {len(result.deleted)} document(s)")


def _set_lifecycle(ref: str, life: Lifecycle, expect: int | None, **target_: Any) -> None:
    json_ = target_.pop("json_")
    doc = _call(
        target_["url"],
        target_["token"],
        target_["namespace"],
        lambda c: c.set_lifecycle(ref, life.value, expected_version=expect),
    )
    if json_:
        print_json(doc)
    else:
        _info(doc)


@app.command("promote")
def promote(
    ref: Annotated[str, typer.Argument(help="Document id or name.")],
    expect: ExpectOpt = None,
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Make a document persistent: it outlives its session tree."""
    _set_lifecycle(
        ref, Lifecycle.PERSISTENT, expect, json_=json_, namespace=namespace, token=token, url=url
    )


@app.command("demote")
def demote(
    ref: Annotated[str, typer.Argument(help="Document id or name.")],
    expect: ExpectOpt = None,
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Make a tree's document temporal again: it goes with its tree."""
    _set_lifecycle(
        ref, Lifecycle.TEMPORAL, expect, json_=json_, namespace=namespace, token=token, url=url
    )
