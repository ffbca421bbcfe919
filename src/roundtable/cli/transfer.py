"""`roundtable export`, `roundtable import jsonl` and `roundtable import scribe`.

Unlike the client commands, these open the database directly (as `roundtable db upgrade` does,
through `Roundtable.open` with the sweeper off): a restore inserts entries with their original
seqs, timestamps and hashes in one transaction, and an export reads raw rows, leaf hashes and
archives, which no API exposes; both are operator tasks on the store, not agent calls. They use
the same settings as the server (`ROUNDTABLE_DATABASE_URL`, `ROUNDTABLE_DATA_DIR`); they may run
while a server runs on the same database, whose writes then wait for the import's transaction.

Progress bars go to stderr, summaries to stdout (`--json` for scripts); errors exit with their
domain error's code (2 invalid input, 3 not found, 4 conflict).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from roundtable.cli.common import (
    JsonOpt,
    NamespaceOpt,
    err,
    load_settings,
    out,
    print_json,
    progress_bar,
    run,
)

import_app = typer.Typer(
    help="Import journals: a Scribe MCP installation or a `roundtable export` file.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add `export` and `import ...` to the main command."""
    app.command("export")(export)
    app.add_typer(import_app, name="import")


def export(
    namespace: NamespaceOpt = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (default: stdout).")
    ] = None,
) -> None:
    """Write a namespace (projects, entries with hashes, checkpoints, contexts) as JSONL."""
    from roundtable.transfer.export import count_entries, export_namespace

    settings = load_settings(namespace=namespace)

    async def work() -> dict[str, int]:
        from roundtable.runtime import Roundtable  # the services: only when a command runs

        async with Roundtable.open(settings, sweeper=False) as core:
            with _target(output) as sink, progress_bar() as bar:
                total = await count_entries(core, settings.namespace)
                task = bar.add_task(f"exporting {settings.namespace}", total=total)
                return await export_namespace(
                    core, settings.namespace, sink.write, lambda n: bar.advance(task, n)
                )

    counts = run(work())
    err.print(
        f"exported namespace {settings.namespace}: "
        + ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
        + (f" to {output}" if output else "")
    )


@contextlib.contextmanager
def _target(output: Path | None) -> Iterator[Any]:
    """stdout, or a temp file renamed over `output` only when the export completed."""
    if output is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    temp = output.with_name(f".{output.name}.tmp")
    handle = open(temp, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    try:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        os.replace(temp, output)
    finally:
        if not handle.closed:
            handle.close()
        temp.unlink(missing_ok=True)


def _lines(path: Path) -> Iterator[str]:
    if str(path) == "-":
        yield from sys.stdin
        return
    try:
        with open(path, encoding="utf-8") as handle:
            yield from handle
    except OSError as exc:
        from roundtable.errors import InvalidInput

        raise InvalidInput(f"cannot read {path}: {exc.strerror}", field="file") from None


@import_app.command("jsonl")
def import_jsonl(
    file: Annotated[Path, typer.Argument(help="An export file (`-` reads stdin).")],
    namespace: Annotated[
        str | None,
        typer.Option("--namespace", "-n", help="Must equal the export's namespace if given."),
    ] = None,
    trust_keys: Annotated[
        bool,
        typer.Option(
            "--trust-keys",
            help="Also trust the exporting server's signing keys (as `roundtable keys trust`), "
            "so `verify` accepts the imported checkpoints.",
        ),
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Restore an export into a namespace without projects; every hash is checked."""
    from roundtable.auth.keyring import trusted_kids
    from roundtable.transfer.restore import Restored, restore

    settings = load_settings()

    async def work() -> tuple[Restored, set[str]]:
        from roundtable.runtime import Roundtable  # the services: only when a command runs

        async with Roundtable.open(settings, sweeper=False) as core:
            with progress_bar() as bar:
                task = bar.add_task("importing entries", total=None)
                done = await restore(
                    core, _lines(file), namespace=namespace, progress=lambda n: bar.advance(task, n)
                )
            return done, trusted_kids(core.keyring, settings.trusted_keys)[1]

    done, trusted = run(work())
    foreign = [kid for kid in done.signing_keys if kid not in trusted]
    if trust_keys and foreign:
        from roundtable.auth.keyring import trust

        trust(settings.data_dir, foreign)
        err.print(f"trusting the exporting server's key(s) {', '.join(foreign)}", soft_wrap=True)
        foreign = []
    if json_:
        print_json({**done.counts, "untrusted_signing_keys": foreign})
    else:
        out.print(
            f"imported into {done.namespace}: "
            + ", ".join(f"{n} {kind}" for kind, n in sorted(done.counts.items()))
        )
    if foreign:
        err.print(
            f"checkpoints signed by key(s) {', '.join(foreign)} of the exporting server: "
            "`verify` accepts them once you trust them: check them against the keys that "
            f"server published, then `roundtable keys trust {' '.join(foreign)}` "
            f"(or ROUNDTABLE_TRUSTED_KEYS={','.join(foreign)})",
            soft_wrap=True,
        )


@import_app.command("scribe")
def import_scribe(
    path: Annotated[
        Path,
        typer.Argument(
            help="The Scribe installation root, its .scribe dir, database or state.json."
        ),
    ],
    namespace: NamespaceOpt = None,
    db: Annotated[
        Path | None, typer.Option("--db", help="Scribe's database, if not under PATH.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be imported; write nothing.")
    ] = False,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Import nothing if any line or row cannot be imported."),
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Import a Scribe MCP installation: projects, entries, its current project.

    Reruns add only what is new. Lines or rows that cannot be imported are listed on stderr
    and the rest is imported (exit 0), unless --strict.
    """
    from roundtable.transfer.scribe_import import ScribeReport
    from roundtable.transfer.scribe_import import import_scribe as run_import
    from roundtable.transfer.scribe_source import read_installation

    settings = load_settings(namespace=namespace)

    async def work() -> ScribeReport:
        install = read_installation(path, db)
        from roundtable.runtime import Roundtable  # the services: only when a command runs

        async with Roundtable.open(settings, sweeper=False) as core:
            with progress_bar() as bar:
                task = bar.add_task("importing Scribe entries", total=None)
                return await run_import(
                    core,
                    install,
                    settings.namespace,
                    dry_run=dry_run,
                    strict=strict,
                    on_total=lambda n: bar.update(task, total=n),
                    progress=lambda n: bar.advance(task, n),
                )

    report = run(work())
    if json_:
        typer.echo(json.dumps(_report_json(report), ensure_ascii=False))
    else:
        _print_report(report)


def _report_json(report: Any) -> dict[str, Any]:
    return {
        "namespace": report.namespace,
        "dry_run": report.dry_run,
        "imported": report.imported,
        "already_imported": report.already,
        "projects": [vars(p) for p in report.projects],
        "problems": [vars(p) for p in report.problems],
        "other_lines": report.other_lines,
        "context_project": report.context_project,
        "context_changed": report.context_changed,
    }


def _print_report(report: Any) -> None:
    verb = "would import" if report.dry_run else "imported"
    for p in report.projects:
        new = " (new project)" if p.created else ""
        out.print(
            f"{escape(p.name)}{new}: {verb} {p.imported}, already imported {p.already}"
            + (f", not importable {p.rejected}" if p.rejected else ""),
            soft_wrap=True,
        )
    out.print(f"total: {verb} {report.imported} entries, already imported {report.already}")
    if report.context_project:
        change = "set to" if report.context_changed else "already"
        out.print(f"agent Scribe's current project: {change} {escape(report.context_project)}")
    for problem in report.problems:
        err.print(
            f"[yellow]skipped[/yellow] {escape(problem.where)}: {escape(problem.reason)}",
            soft_wrap=True,
        )
    if report.problems:
        err.print(f"{len(report.problems)} lines or rows were not imported (listed above)")
