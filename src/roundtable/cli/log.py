"""`roundtable log append|tail|query`: write to and read from a project's journal over HTTP."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer

from roundtable.cli import render
from roundtable.cli.common import (
    AgentOpt,
    JsonOpt,
    NamespaceOpt,
    Target,
    TokenOpt,
    UrlOpt,
    err,
    out,
    print_json,
    target,
)
from roundtable.cli.interrupt import follow
from roundtable.cli.state import SessionOpt, session_or_remembered
from roundtable.cli.timeparse import parse_when
from roundtable.client.http import RoundtableClient
from roundtable.errors import InvalidInput
from roundtable.journal.models import AppendResult, Entry, MetaScalar, QueryFilter, Status
from roundtable.validation import check_meta, check_name

app = typer.Typer(help="Append to, follow and search project journals.", no_args_is_help=True)

ProjectOpt = Annotated[
    str | None,
    typer.Option("--project", "-p", help="Project (default: the agent's current one)."),
]

#: Page size for reads the CLI assembles from several pages (well under any sane server max).
PAGE = 100


async def current_project(client: RoundtableClient, t: Target, project: str | None) -> str:
    """The named project, or the agent's current one (a clear error when it has none)."""
    if project is not None:
        return check_name("project", project)
    context = await client.get_context(t.require_agent())
    if context.project is None:
        raise InvalidInput(
            f"agent {context.agent!r} has no current project: "
            "run `roundtable project use NAME` or pass --project",
            field="project",
        )
    return context.project


@app.command("append")
def append(
    message: Annotated[str, typer.Argument(help="What happened.")],
    status: Annotated[Status, typer.Option("--status", "-s", help="Entry status.")] = Status.INFO,
    kind: Annotated[str, typer.Option("--kind", "-k", help="Entry category.")] = "progress",
    meta: Annotated[
        str | None, typer.Option("--meta", "-m", help='Details as a JSON object, e.g. {"pr": 42}.')
    ] = None,
    project: ProjectOpt = None,
    session: SessionOpt = None,
    agent: AgentOpt = None,
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Append one entry; the server assigns its sequence number, time and hash."""
    t = target(url=url, token=token, namespace=namespace, agent=agent)

    async def work(client: RoundtableClient) -> AppendResult:
        details = check_meta(meta, t.settings.max_meta_bytes)  # before any request: fail fast
        name = await current_project(client, t, project)
        session_id = await session_or_remembered(t, client, session)
        return await client.append(
            name,
            message,
            status=status,
            kind=kind,
            meta=details,
            agent=t.agent,
            session_id=session_id,
        )

    result = t.call(work)
    if json_:
        print_json(result)
        return
    out.print(render.entry_line(result.entries[0], show_project=True))


async def entries_after(client: RoundtableClient, project: str, after: int) -> list[Entry]:
    """Every entry with seq > `after`, oldest first, however many pages that takes."""
    fresh: list[Entry] = []
    cursor: str | None = None
    while True:
        page = await client.read_recent(project, limit=PAGE, cursor=cursor)
        newer = [e for e in page.entries if e.seq > after]
        fresh.extend(newer)
        if len(newer) < len(page.entries) or page.next_cursor is None:
            return sorted(fresh, key=lambda e: e.seq)
        cursor = page.next_cursor


@app.command("tail")
def tail(
    project: ProjectOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-l", min=1, help="Entries to show.")] = 20,
    follow_: Annotated[
        bool,
        typer.Option(
            "--follow", "-f", help="Keep printing new entries until stopped (Ctrl-C; exits 0)."
        ),
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.05, help="Seconds between polls with --follow.")
    ] = 1.0,
    agent: AgentOpt = None,
    json_: Annotated[
        bool, typer.Option("--json", help="Print one JSON entry per line (JSON Lines).")
    ] = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Show the newest entries, oldest first; with --follow, poll for new ones until interrupted.

    --json prints JSON Lines in both modes, so a script reads a follow stream line by line.
    """
    t = target(url=url, token=token, namespace=namespace, agent=agent)

    def emit(entry: Entry) -> None:
        if json_:
            print_json(entry)
        else:
            out.print(render.entry_line(entry))

    async def work() -> None:
        async with t.client() as client:
            name = await current_project(client, t, project)
            page = await client.read_recent(name, limit=limit)
            for entry in reversed(page.entries):
                emit(entry)
            if not follow_:
                if not page.entries:
                    err.print(f"{name} has no entries yet")
                return
            seen = page.entries[0].seq if page.entries else 0
            while True:
                await asyncio.sleep(interval)
                if (await client.get_project(name)).size <= seen:
                    continue  # a cheap check first: most polls find nothing new
                for entry in await entries_after(client, name, seen):
                    emit(entry)
                    seen = entry.seq

    follow(work)


def parse_meta_filter(pairs: list[str]) -> dict[str, MetaScalar]:
    """`key=value` pairs; a value is read as JSON when it parses (42, true, "42"), else as text."""
    result: dict[str, MetaScalar] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--meta {pair!r}: use key=value", field="meta")
        check_name("meta key", key)
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        if isinstance(value, dict | list):
            raise InvalidInput(
                f"--meta {pair!r}: the value must be a string, number, boolean or null",
                field="meta",
            )
        result[key] = value
    return result


@app.command("query")
def query(
    text: Annotated[
        str | None, typer.Option("--text", "-t", help="Words that must all occur.")
    ] = None,
    regex: Annotated[
        str | None, typer.Option("--regex", "-r", help="Python regex on the message.")
    ] = None,
    status: Annotated[
        list[Status] | None, typer.Option("--status", "-s", help="Any of these (repeatable).")
    ] = None,
    kind: Annotated[str | None, typer.Option("--kind", "-k", help="Entry category.")] = None,
    agent: Annotated[
        str | None, typer.Option("--agent", "-a", help="Only entries by this agent.")
    ] = None,
    meta: Annotated[
        list[str] | None,
        typer.Option("--meta", "-m", help="key=value that meta must equal (repeatable)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="From this time: ISO 8601, or 2h for 2h ago.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Before this time: ISO 8601, or a duration ago.")
    ] = None,
    project: Annotated[
        list[str] | None,
        typer.Option("--project", "-p", help="Only these projects (repeatable; default: all)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-l", min=1, help="At most this many.")] = 50,
    oldest: Annotated[bool, typer.Option("--oldest", help="Oldest first.")] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print a JSON array of entries.")] = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Search entries across the namespace's projects; every filter given must match."""
    t = target(url=url, token=token, namespace=namespace)

    async def work(client: RoundtableClient) -> tuple[list[Entry], bool]:
        filters = QueryFilter(
            projects=[check_name("project", p) for p in project] if project else None,
            agent=agent,
            status=status or None,
            kind=kind,
            text=text,
            regex=regex,
            meta=parse_meta_filter(meta) if meta else None,
            since=parse_when(since, option="--since") if since else None,
            until=parse_when(until, option="--until") if until else None,
            order="oldest" if oldest else "newest",
        )
        found: list[Entry] = []
        cursor: str | None = None
        while len(found) < limit:
            wanted = min(PAGE, limit - len(found))
            page = await client.query(
                filters.model_copy(update={"limit": wanted, "cursor": cursor})
            )
            found.extend(page.entries)
            cursor = page.next_cursor
            if cursor is None:
                break
        return found, cursor is not None

    entries, more = t.call(work)
    if json_:
        print_json(entries)
    elif entries:
        out.print(render.entries_table(entries))
    else:
        err.print("no entries match")
    if more:
        err.print(f"showing the first {len(entries)}; more may match (raise --limit)")
