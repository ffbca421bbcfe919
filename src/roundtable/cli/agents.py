"""`roundtable agent start|status|result|children|wait|stop|delete`: session trees, over HTTP.

An agent session is a session started from a blueprint and run by runners; started by another
session it becomes that session's child. These commands are what an MCP client's
`start_agent_session`, `get_session_status`, ... tools are to an agent, for a person or a script.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated, Any, cast

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from roundtable.cli.common import (
    JsonOpt,
    NamespaceOpt,
    Target,
    TokenOpt,
    UrlOpt,
    err,
    out,
    print_json,
    run,
)
from roundtable.cli.common import target as resolve
from roundtable.cli.options import ParentIdArg, SessionIdArg, call, print_found
from roundtable.client.http import RoundtableClient
from roundtable.client.orchestration import Mode, Orchestration
from roundtable.errors import InvalidInput

app = typer.Typer(help="Start and follow agent sessions (session trees).", no_args_is_help=True)

#: Statuses in which a session still has work queued or going on.
BUSY = frozenset({"pending", "running"})
STATUS_STYLE = {
    "pending": "cyan",
    "running": "green",
    "idle": "blue",
    "active": "green",
    "finished": "dim",
    "failed": "red",
    "stopped": "yellow",
    "expired": "dim red",
}
#: `agent wait` exits with this when the children are not all done in time.
NOT_DONE_EXIT = 9


def parse_params(pairs: list[str], params_json: str | None) -> dict[str, Any]:
    """`--params-json` first, then each `--param k=v` on top (v parsed as JSON, else a string)."""
    params: dict[str, Any] = {}
    if params_json is not None:
        try:
            loaded = json.loads(params_json)
        except ValueError as exc:
            raise InvalidInput(f"--params-json is not JSON: {exc}", field="params_json") from None
        if not isinstance(loaded, dict):
            raise InvalidInput("--params-json must be a JSON object", field="params_json")
        params.update(loaded)
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--param {pair!r}: expected KEY=VALUE", field="param")
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    return params


def _client(t: Target, wait: float = 0.0) -> RoundtableClient:
    """A client whose timeout outlasts a server-side wait of `wait` seconds."""
    return RoundtableClient(t.url, t.token, t.namespace, timeout=30.0 + wait)


def sessions_table(sessions: list[dict[str, Any]]) -> Table:
    """One session a line; fits 80 columns (a uuid7 id alone takes 36)."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("session", no_wrap=True)
    table.add_column("blueprint", overflow="ellipsis", no_wrap=True, min_width=9, max_width=20)
    table.add_column("status", no_wrap=True)
    table.add_column("depth", justify="right")
    table.add_column("mode", no_wrap=True)
    for s in sessions:
        status = str(s.get("status", ""))
        table.add_row(
            str(s["id"]),
            Text(str(s.get("blueprint") or "")),
            Text(status, style=STATUS_STYLE.get(status, "")),
            str(s.get("depth", "")),
            Text(str(s.get("mode") or "").removeprefix("async_")),
        )
    return table


def runs_table(runs: list[dict[str, Any]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("run", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("try", justify="right")
    table.add_column("error", overflow="ellipsis", no_wrap=True, max_width=24)
    for r in runs:
        error = r.get("error") or {}
        table.add_row(
            str(r["id"]),
            str(r.get("kind", "")),
            Text(str(r.get("status", ""))),
            str(r.get("attempt", "")),
            Text(str(error.get("message", "")) if isinstance(error, dict) else str(error)),
        )
    return table


def session_details(s: dict[str, Any]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    status = str(s.get("status", ""))
    table.add_row("session", str(s["id"]))
    table.add_row("status", Text(status, style=STATUS_STYLE.get(status, "")))
    for key in ("blueprint", "agent", "mode", "depth", "parent_id", "root_id", "project"):
        if s.get(key) not in (None, ""):
            table.add_row(key.replace("_id", ""), Text(str(s[key])))
    if s.get("error"):
        table.add_row("error", Text(json.dumps(s["error"], ensure_ascii=False), style="red"))
    return table


def _print_result(result: dict[str, Any]) -> None:
    """The result alone on stdout: `result_data` as JSON, else `result_text`."""
    if result.get("result_data") is not None:
        typer.echo(json.dumps(result["result_data"], ensure_ascii=False, indent=2))
    elif result.get("result_text") is not None:
        typer.echo(result["result_text"])
    if result.get("error"):
        err.print(Text(f"error: {json.dumps(result['error'], ensure_ascii=False)}", style="red"))


@app.command("start")
def start(
    blueprint: Annotated[str, typer.Argument(help="Blueprint to start.")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="KEY=VALUE parameter (VALUE as JSON if it parses)."),
    ] = None,
    params_json: Annotated[
        str | None, typer.Option("--params-json", help="All parameters as a JSON object.")
    ] = None,
    mode: Annotated[
        str, typer.Option("--mode", help="async_poll (print the id), sync (wait for the result).")
    ] = "async_poll",
    parent: Annotated[
        str | None, typer.Option("--parent", help="Start it as a child of this session.")
    ] = None,
    project: Annotated[
        str | None, typer.Option("--project", help="Journal project its runs are audited in.")
    ] = None,
    priority: Annotated[int, typer.Option("--priority", help="Higher is claimed first.")] = 0,
    wait: Annotated[
        float, typer.Option("--wait", min=0, help="With --mode sync: seconds to wait at most.")
    ] = 60.0,
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Start a session from a blueprint; print its id (or, with --mode sync, its result)."""
    if mode not in ("sync", "async_poll", "async_callback"):
        raise typer.BadParameter("sync, async_poll or async_callback", param_hint="--mode")
    t = resolve(url=url, token=token, namespace=namespace)

    async def work() -> dict[str, Any]:
        params = parse_params(param or [], params_json)
        async with _client(t, wait if mode == "sync" else 0) as client:
            return await Orchestration(client).start(
                blueprint,
                params,
                mode=cast(Mode, mode),  # checked above
                parent_session_id=parent,
                project=project,
                priority=priority,
                wait_seconds=wait if mode == "sync" else None,
            )

    session = run(work())
    if json_:
        print_json(session)
        return
    if mode != "sync":
        typer.echo(session["id"])
        err.print(f"session started ({session.get('status', 'pending')})")
        return
    if session.get("timed_out") or session.get("status") in BUSY:
        err.print(f"session {session['id']} still {session.get('status')}; not done in {wait:g}s")
        raise typer.Exit(NOT_DONE_EXIT)
    _print_result(session)


@app.command("status")
def status(
    session_id: SessionIdArg,
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Show a session and its runs."""
    t = resolve(url=url, token=token, namespace=namespace)

    async def work(client: RoundtableClient) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        api = Orchestration(client)
        return await api.status(session_id), await api.runs(session_id)

    session, runs = t.call(work)
    if json_:
        print_json({"session": session, "runs": runs})
        return
    out.print(session_details(session))
    if runs:
        out.print(runs_table(runs))


@app.command("result")
def result(
    session_id: SessionIdArg,
    wait: Annotated[
        float, typer.Option("--wait", min=0, help="Wait up to this many seconds for it to end.")
    ] = 0.0,
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Print a session's result: `result_data` as JSON, or `result_text`.

    Exits 9 if the session is still pending or running (after --wait), 1 if it failed."""
    t = resolve(url=url, token=token, namespace=namespace)

    async def work(client: RoundtableClient) -> dict[str, Any]:
        api = Orchestration(client)
        deadline = time.monotonic() + wait
        while True:
            found = await api.result(session_id)
            if found.get("status") not in BUSY or time.monotonic() >= deadline:
                return found
            await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))

    found = t.call(work)
    if json_:
        print_json(found)
    else:
        _print_result(found)
    if found.get("status") in BUSY:
        err.print(f"session {session_id} is still {found.get('status')}")
        raise typer.Exit(NOT_DONE_EXIT)
    if found.get("status") in ("failed", "expired"):
        raise typer.Exit(1)


@app.command("children")
def children(
    session_id: ParentIdArg,
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """List a session's direct children."""
    found = call(url, token, namespace, lambda c: Orchestration(c).children(session_id))
    print_found(found, json_, sessions_table, empty="no children")


@app.command("wait")
def wait_(
    session_id: ParentIdArg,
    child: Annotated[
        list[str] | None, typer.Option("--child", help="Wait for this child only (repeatable).")
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=0, help="Seconds at most.")] = 30.0,
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Wait until all (or the named) children of a session have ended; exit 9 on timeout."""
    t = resolve(url=url, token=token, namespace=namespace)

    async def work() -> dict[str, Any]:
        async with _client(t, timeout) as client:
            return await Orchestration(client).wait(session_id, children=child, seconds=timeout)

    found = run(work())
    print_found(found, json_, lambda f: sessions_table(list(f.get("sessions", []))))
    if not found.get("done"):
        err.print(f"children of {session_id} not all done after {timeout:g}s")
        raise typer.Exit(NOT_DONE_EXIT)


@app.command("stop")
def stop(
    session_id: SessionIdArg,
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Stop a session: its running work is stopped at the runner; children follow their policy."""
    session = call(url, token, namespace, lambda c: Orchestration(c).stop(session_id))
    if json_:
        print_json(session)
    else:
        err.print(f"session {session_id} {session.get('status', 'stopped')}")


@app.command("delete")
def delete(
    session_id: Annotated[str, typer.Argument(help="Session id (its whole subtree goes).")],
    force: Annotated[
        bool, typer.Option("--force", help="Stop active sessions of the subtree first.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show what would be deleted.")
    ] = False,
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Delete a session and its subtree (refused while any of it is active, unless --force)."""
    found = call(
        url,
        token,
        namespace,
        lambda c: Orchestration(c).delete(session_id, force=force, dry_run=dry_run),
    )
    if json_:
        print_json(found)
        return
    counts = found.get("counts", {})
    what = ", ".join(f"{n} {k}" for k, n in counts.items())
    verb = "would delete" if dry_run else "deleted"
    out.print(f"{verb} {what or 'nothing'}")
    for sid in found.get("session_ids", []):
        out.print(f"  {sid}")
