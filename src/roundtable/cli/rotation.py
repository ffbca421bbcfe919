"""`roundtable rotate`, `roundtable log render` and `roundtable project mirror` (D5).

`rotate` and `log render` are maintenance commands run on the server's host: they open the
database and the data directory directly (like `db upgrade`), because the work is long (a
rotation streams a whole segment into its archive, shown with a progress bar) and its output
is files under that data directory. Several processes may run them at once safely: rotations of
one project are serialised (one wins, the others exit 4), mirror writes are locked.
`project mirror` changes configuration, so it goes through the HTTP API with the admin token.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import typer
from rich.markup import escape
from rich.progress import Progress

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
    run,
    target,
)
from roundtable.client.http import RoundtableClient
from roundtable.errors import RoundtableError
from roundtable.validation import check_name

if TYPE_CHECKING:  # the services (SQLAlchemy) load when a command runs, not for --help
    from roundtable.journal.mirror_service import MirrorInfo
    from roundtable.journal.rotation import RotationResult

ProjectArg = Annotated[str, typer.Argument(help="Project (journal) name.")]


def _local(namespace: str | None) -> tuple[Any, str]:
    settings = load_settings(namespace=namespace)
    try:
        return settings, check_name("namespace", settings.namespace)
    except RoundtableError as error:
        raise fail(error) from None


def rotate(
    project: ProjectArg,
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
) -> None:
    """Seal PROJECT's open segment into DATA_DIR/archives (opens the database directly)."""
    from roundtable.runtime import Roundtable

    settings, ns = _local(namespace)

    async def work(progress: Progress) -> RotationResult:
        task = progress.add_task(f"rotating {ns}/{project}", total=None)

        def step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        async with Roundtable.open(settings, sweeper=False) as core:
            return await core.rotation.rotate(ns, project, progress=step)

    with progress_bar() as progress:
        result = run(work(progress))
    if json_:
        print_json(result)
        return
    out.print(
        f"sealed segment {result.segment} of {escape(ns)}/{escape(project)}: "
        f"seq {result.first_seq}–{result.last_seq} → {escape(result.archive)}\n"
        f"  root {result.root}\n  archive sha256 {result.archive_sha256}\n"
        f"  rotation entry {result.rotation_seq}, checkpoint at size {result.checkpoint_size}",
        soft_wrap=True,
    )


def render(
    project: ProjectArg,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write here instead of the project's mirror file."),
    ] = None,
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
) -> None:
    """Regenerate PROJECT's Markdown mirror from the database (opens the database directly)."""
    from roundtable.runtime import Roundtable

    settings, ns = _local(namespace)

    async def work() -> MirrorInfo:
        async with Roundtable.open(settings, sweeper=False) as core:
            return await core.mirrors.render(ns, project, output)

    try:
        info = asyncio.run(work())
    except RoundtableError as error:
        raise fail(error) from None
    if json_:
        print_json(info)
        return
    out.print(f"wrote {info.lines} entries to {escape(str(info.file))}", soft_wrap=True)


def mirror(
    project: ProjectArg,
    path: Annotated[
        str | None,
        typer.Argument(help="Mirror file under DATA_DIR/mirrors (e.g. web/PROGRESS_LOG.md)."),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the project's mirror.")] = False,
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Set (admin only) where PROJECT's Markdown mirror is written, or --clear it."""
    if (path is None) != clear:
        err.print("[red]invalid_input:[/red] give a PATH or --clear (not both)")
        raise typer.Exit(2)
    from roundtable.journal.mirror_service import MirrorInfo

    t = target(url=url, token=token, namespace=namespace)

    async def work(client: RoundtableClient) -> MirrorInfo:
        body = await client._call(
            "PUT", f"/projects/{quote(check_name('project', project))}/mirror", json={"path": path}
        )
        return MirrorInfo.model_validate(body)

    info = t.call(work)
    if json_:
        print_json(info)
        return
    if info.path is None:
        out.print(f"{escape(project)} has no mirror now")
    else:
        out.print(f"{escape(project)} mirrors to {escape(str(info.file))}", soft_wrap=True)


def register(app: typer.Typer, log_app: typer.Typer, project_app: typer.Typer) -> None:
    """Add `rotate`, `log render` and `project mirror` to the CLI."""
    app.command("rotate")(rotate)
    log_app.command("render")(render)
    project_app.command("mirror")(mirror)
