"""The CLI's remembered checkpoints (`client.remembered`): `verify` and `checkpoint` check every
checkpoint they are shown against the last one this user verified, and warn loudly (exit 8) on a
fork or rollback."""

from __future__ import annotations

import typer
from rich.markup import escape

from roundtable.cli.common import Target, err
from roundtable.client.http import RoundtableClient
from roundtable.client.remembered import RememberedCheckpoints, Verdict
from roundtable.errors import NotFound
from roundtable.journal.models import Checkpoint, ConsistencyProof

#: Exit status of a fork or rollback (the same as a journal that does not verify).
TAMPERED = 8


def _warn(message: str) -> None:
    err.print(f"[bold red]WARNING:[/bold red] {escape(message)}", soft_wrap=True)


def memory(t: Target) -> RememberedCheckpoints:
    return RememberedCheckpoints(t.settings.data_dir / "state", t.url, t.namespace, _warn)


async def check(t: Target, client: RoundtableClient, project: str, cp: Checkpoint) -> Verdict:
    async def prove(old: int, new: int) -> ConsistencyProof:
        return await client.consistency_proof(project, old, new)

    return await memory(t).check(project, cp, prove)


async def check_latest(t: Target, client: RoundtableClient, project: str) -> Verdict | None:
    """Check the journal's latest checkpoint (None when it has none yet)."""
    try:
        latest = await client.latest_checkpoint(project)
    except NotFound:
        return None
    return await check(t, client, project, latest)


def exit_if_bad(verdicts: list[Verdict | None]) -> None:
    if any(v is not None and v.bad for v in verdicts):
        raise typer.Exit(TAMPERED)
