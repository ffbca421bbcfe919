"""`roundtable verify PROJECT`: have the server recompute a journal (chain, tree, signed
checkpoints, archives), with a progress bar on stderr while it works.

Exit status: 0 when the chain is intact, 8 when it is not, so scripts and CI can gate on it and
tell tampering apart from a failed request (which exits with its error's own code, 1-7).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from roundtable.cli import remember, render
from roundtable.cli.common import (
    JsonOpt,
    NamespaceOpt,
    TokenOpt,
    UrlOpt,
    err,
    fail,
    load_settings,
    out,
    print_json,
    progress_bar,
    target,
)
from roundtable.client.http import RoundtableClient
from roundtable.client.remembered import Verdict
from roundtable.errors import RoundtableError
from roundtable.journal.models import VerifyReport

#: Exit status when the journal does not verify.
TAMPERED = 8

WitnessKeyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--witness-key",
        help="A witness's cosignature verifier key, name+id+base64 (repeat). --offline default: "
        "ROUNDTABLE_WITNESSES; verify-export default: the witnesses the export names.",
    ),
]


def verify(
    project: Annotated[
        list[str] | None,
        typer.Argument(help="Project(s) whose journal to check (--offline: default all)."),
    ] = None,
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            help="No server: open the database and data directory directly (read-only).",
        ),
    ] = False,
    data_dir: Annotated[
        Path | None, typer.Option(help="--offline: the data directory (keys, anchors, archives).")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="--offline: the database (default: DATA_DIR's SQLite).")
    ] = None,
    witnesses: Annotated[
        int,
        typer.Option(
            min=0, max=64, help="Require this many witness cosignatures (ROUNDTABLE_WITNESSES)."
        ),
    ] = 0,
    witness_key: WitnessKeyOpt = None,
) -> None:
    """Recompute the chain, the Merkle tree, every checkpoint signature and every archive;
    name the first bad entry and the kind of damage (exit 8 if any)."""
    verdict = None
    if offline:
        reports = _offline(
            project or [], namespace, data_dir, database_url, witnesses, witness_key or []
        )
    else:
        if witness_key:
            raise typer.BadParameter("--witness-key is for --offline (the server uses its own)")
        if not project or len(project) != 1:
            raise typer.BadParameter("name one project (several only with --offline)")
        report, verdict = _online(project[0], namespace, token, url, witnesses)
        reports = [report]
    for report in reports:
        if json_:
            print_json(report)
        else:
            out.print(render.verify_report(report))
    remember.exit_if_bad([verdict])
    if not all(r.ok for r in reports):
        raise typer.Exit(TAMPERED)


def _online(
    project: str, namespace: str | None, token: str | None, url: str | None, witnesses: int = 0
) -> tuple[VerifyReport, Verdict | None]:
    """The server's report, and the latest checkpoint checked against the one remembered."""
    t = target(url=url, token=token, namespace=namespace)
    with progress_bar("verifying {task.description}") as bar:
        task = bar.add_task(project, total=None)

        def step(checked: int, total: int) -> None:
            bar.update(task, completed=checked, total=total)

        async def work(client: RoundtableClient) -> tuple[VerifyReport, Verdict | None]:
            report = await client.verify_with_progress(project, step, witnesses=witnesses)
            return report, await remember.check_latest(t, client, project)

        return t.call(work)


def _offline(
    projects: list[str],
    namespace: str | None,
    data_dir: Path | None,
    database_url: str | None,
    witnesses: int = 0,
    witness_keys: list[str] | None = None,
) -> list[VerifyReport]:
    from roundtable.journal.offline import verify_offline  # the store and Alembic: only here

    settings = load_settings(data_dir=data_dir, database_url=database_url, namespace=namespace)
    with progress_bar("verifying offline") as bar:
        task = bar.add_task("", total=None)

        def step(checked: int, total: int) -> None:
            bar.update(task, completed=checked, total=total)

        try:
            return asyncio.run(
                verify_offline(
                    settings,
                    settings.namespace,
                    projects or None,
                    progress=step,
                    witnesses=witnesses,
                    witness_keys=witness_keys or None,
                )
            )
        except RoundtableError as error:
            raise fail(error) from None


def verify_export(
    file: Annotated[Path, typer.Argument(help="An export (`roundtable export`; `-`: stdin).")],
    key: Annotated[
        list[str] | None,
        typer.Option(
            "--key",
            help="Trust checkpoints signed by this key id (repeat). Default: the keys the "
            "export names, which only checks the file against itself.",
        ),
    ] = None,
    witness_key: WitnessKeyOpt = None,
    witnesses: Annotated[
        int, typer.Option(min=0, max=64, help="Require this many witness cosignatures.")
    ] = 0,
    json_: JsonOpt = False,
) -> None:
    """Verify an export offline: chains, trees, checkpoint signatures and witness cosignatures
    (exit 8 if damaged)."""
    from roundtable.cli.transfer import _lines
    from roundtable.transfer.audit import verify_export as audit

    try:
        result = asyncio.run(
            audit(_lines(file), key, witness_keys=witness_key, witnesses=witnesses)
        )
    except RoundtableError as error:
        raise fail(error) from None
    if result.refused is not None:
        err.print(f"[red]damaged:[/red] the export does not restore: {result.refused}")
    if not result.pinned:
        err.print(
            "[yellow]warning:[/yellow] trusting the keys the export itself names "
            f"({', '.join(result.trusted) or 'none'}); pin them with --key KID",
            soft_wrap=True,
        )
    for report in result.reports:
        if json_:
            print_json(report)
        else:
            out.print(render.verify_report(report))
    if not result.ok:
        raise typer.Exit(TAMPERED)
