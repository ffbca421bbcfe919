"""`roundtable verify PROJECT`: have the server recompute a journal (chain, tree, signed
checkpoints, archives), with a progress bar on stderr while it works.

Exit status: 0 when the chain is intact, 8 when it is not, so scripts and CI can gate on it and
tell tampering apart from a failed request (which exits with its error's own code, 1-7).
"""

from __future__ import annotations

from typing import Annotated

import typer

from roundtable.cli import render
from roundtable.cli.common import (
    JsonOpt,
    NamespaceOpt,
    TokenOpt,
    UrlOpt,
    out,
    print_json,
    progress_bar,
    target,
)
from roundtable.client.http import RoundtableClient
from roundtable.journal.models import VerifyReport

#: Exit status when the journal does not verify.
TAMPERED = 8


def verify(
    project: Annotated[str, typer.Argument(help="Project whose journal to check.")],
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Recompute the chain, the Merkle tree, every checkpoint signature and every archive;
    name the first bad entry and the kind of damage (exit 8 if any)."""
    t = target(url=url, token=token, namespace=namespace)

    with progress_bar("verifying {task.description}") as bar:
        task = bar.add_task(project, total=None)

        def step(checked: int, total: int) -> None:
            bar.update(task, completed=checked, total=total)

        async def work(client: RoundtableClient) -> VerifyReport:
            return await client.verify_with_progress(project, step)

        report = t.call(work)
    if json_:
        print_json(report)
    else:
        out.print(render.verify_report(report))
    if not report.ok:
        raise typer.Exit(TAMPERED)
