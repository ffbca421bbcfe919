"""`roundtable events tail`: follow the server's event stream (SSE), resuming after any break.

The stream is read with `client.sse.Follower`: after a lost connection (a server restart, a
network blip) or a `dropped` notice (this terminal was too slow) it reconnects with backoff and
resumes from the last event it printed, so nothing is missed and nothing is printed twice.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.text import Text

from roundtable.cli.common import TokenOpt, UrlOpt, err, out, target
from roundtable.cli.interrupt import follow
from roundtable.client.sse import Follower, SseMessage, stream_params

app = typer.Typer(help="Follow what happens on the server, live.", no_args_is_help=True)


def event_line(event: dict[str, Any]) -> Text:
    """One event as one line: `#id time type namespace/project agent session payload`."""
    line = Text()
    line.append(f"#{event.get('id')} ", style="bold")
    line.append(f"{str(event.get('ts', ''))[:19].replace('T', ' ')} ", style="dim")
    line.append(f"{event.get('type')} ", style="cyan")
    where = str(event.get("namespace", ""))
    if event.get("project"):
        where += f"/{event['project']}"
    line.append(f"{where} ", style="bold")
    if event.get("agent"):
        line.append(f"{event['agent']} ", style="blue")
    if event.get("session_id"):
        line.append(f"session={event['session_id']} ", style="dim")
    payload = event.get("payload") or {}
    line.append(json.dumps(payload, ensure_ascii=False, separators=(",", ":")), style="dim")
    return line


@app.command("tail")
def tail(
    types: Annotated[
        list[str] | None,
        typer.Option("--type", "-t", help="Event type or pattern (`session.*`); repeatable."),
    ] = None,
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Only this project.")
    ] = None,
    agent: Annotated[str | None, typer.Option("--agent", "-a", help="Only this agent.")] = None,
    session: Annotated[str | None, typer.Option("--session", help="Only this session.")] = None,
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace", "-n", help="Only this namespace (default: the token's; admin: all)."
        ),
    ] = None,
    after: Annotated[
        int | None,
        typer.Option("--after", min=0, help="Start after this event id (default: from now)."),
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print one JSON event per line.")] = False,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Print events as they happen until stopped (Ctrl-C or SIGTERM; exits 0)."""
    t = target(url=url, token=token)
    headers = {"Authorization": f"Bearer {t.token}"} if t.token else {}

    def on_status(kind: str, detail: str) -> None:
        if kind == "disconnected":
            err.print(f"[yellow]connection lost ({detail}); reconnecting…[/yellow]", soft_wrap=True)
        elif kind == "dropped":
            err.print(
                f"[yellow]the server dropped this slow reader; resuming after {detail}[/yellow]"
            )
        elif kind == "connected" and detail:
            err.print(f"[dim]following events after #{detail}[/dim]")

    def show(message: SseMessage) -> None:
        data = message.json()
        if message.event == "resync":
            err.print(
                f"[bold yellow]warning:[/bold yellow] events up to #{data['pruned_through']} "
                f"were removed by retention (asked to resume after #{data['requested_after']}); "
                f"some events are missing, continuing after #{data['resume_after']}",
                soft_wrap=True,
            )
            if json_:
                typer.echo(json.dumps({"resync": data}))
            return
        if json_:
            typer.echo(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
        else:
            out.print(event_line(data), soft_wrap=True)

    async def work() -> None:
        follower = Follower(
            url=t.url,
            headers=headers,
            params=stream_params(
                types=types or (),
                namespace=namespace,
                project=project,
                agent=agent,
                session=session,
            ),
            last_id=None if after is None else str(after),
            on_status=on_status,
            fail_fast=True,
        )
        async for message in follower:
            show(message)

    follow(work)
