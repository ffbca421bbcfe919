"""`roundtable checkpoint PROJECT`: the journal's latest signed checkpoint (`--all`: every one,
newest first; `--sign`: have the server sign the head now first). Prints the signed notes.

The checkpoint shown is checked against the last one this client saw for the journal
(`client.remembered`): a fork or rollback is reported loudly and exits 8."""

from __future__ import annotations

from typing import Annotated

import typer

from roundtable.cli import remember
from roundtable.cli.common import (
    JsonOpt,
    NamespaceOpt,
    TokenOpt,
    UrlOpt,
    out,
    print_json,
    target,
)
from roundtable.client.http import RoundtableClient
from roundtable.client.remembered import Verdict
from roundtable.journal.models import Checkpoint


def checkpoint(
    project: Annotated[str, typer.Argument(help="Project whose checkpoints to show.")],
    all_: Annotated[bool, typer.Option("--all", help="Every checkpoint, newest first.")] = False,
    sign: Annotated[bool, typer.Option("--sign", help="Sign the head now first.")] = False,
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Show PROJECT's signed checkpoints (C2SP tlog-checkpoint notes)."""
    t = target(url=url, token=token, namespace=namespace)

    verdicts: list[Verdict | None] = []

    async def work(client: RoundtableClient) -> list[Checkpoint]:
        if sign:
            signed = await client.sign_checkpoint(project)
            verdicts.append(await remember.check(t, client, project, signed))
            if not all_:
                return [signed]
        if not all_:
            latest = await client.latest_checkpoint(project)
            verdicts.append(await remember.check(t, client, project, latest))
            return [latest]
        found: list[Checkpoint] = []
        cursor: str | None = None
        while True:
            page = await client.checkpoints(project, limit=100, cursor=cursor)
            found.extend(page.checkpoints)
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor

    found = t.call(work)
    if json_:
        print_json(found if all_ else found[0])
        remember.exit_if_bad(verdicts)
        return
    for item in found:
        out.print(
            f"[bold]size {item.size}[/bold]  key {item.key_id}  {item.created_at.isoformat()}",
            soft_wrap=True,
        )
        out.print(item.note, end="", markup=False, highlight=False, soft_wrap=True)
        out.print()
    remember.exit_if_bad(verdicts)
