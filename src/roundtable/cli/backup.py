"""`roundtable backup PATH` and `roundtable restore PATH`: whole-instance snapshots.

Like `export`, they open the store directly with the server's settings (`ROUNDTABLE_DATA_DIR`,
`ROUNDTABLE_DATABASE_URL`) and may run while servers write. Restore exits 1 if any journal
fails verification after the restore (the data is in place; the report says what is wrong).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from roundtable.cli.common import JsonOpt, err, load_settings, out, print_json, run


def register(app: typer.Typer) -> None:
    app.command("backup")(backup)
    app.command("restore")(restore)


def backup(
    path: Annotated[Path, typer.Argument(help="New (or empty) directory to write the backup to.")],
    pg_dump: Annotated[
        str | None,
        typer.Option("--pg-dump", help="pg_dump program (PostgreSQL; default: found on PATH)."),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Snapshot the database and the data directory's files (keys, archives, mirrors) while the
    server keeps running."""
    from roundtable.backup.service import create_backup

    settings = load_settings()
    result = run(create_backup(settings, path, pg_dump=pg_dump))
    summary = {
        "path": str(result.path),
        "backend": result.backend,
        "schema_revision": result.schema_revision,
        "files": result.files,
        "bytes": result.bytes,
    }
    if json_:
        print_json(summary)
    else:
        out.print(
            f"backup of the {result.backend} database and {result.files - 1} data files "
            f"({result.bytes:,} bytes) written to {result.path}"
        )


def restore(
    path: Annotated[Path, typer.Argument(help="A directory written by `roundtable backup`.")],
    pg_restore: Annotated[
        str | None,
        typer.Option("--pg-restore", help="pg_restore program (default: found on PATH)."),
    ] = None,
    verify: Annotated[
        bool, typer.Option("--verify/--no-verify", help="Verify every journal afterwards.")
    ] = True,
    json_: JsonOpt = False,
) -> None:
    """Restore a backup into an empty data directory (and an empty PostgreSQL database), then
    verify every journal."""
    from roundtable.backup.service import restore_backup

    settings = load_settings()
    result = run(restore_backup(settings, path, pg_restore=pg_restore, verify=verify))
    journals = [
        {
            "namespace": ns,
            "project": project,
            "ok": report.ok,
            "checked": report.checked,
            "problem": report.problem.value if report.problem else None,
            "first_bad_seq": report.first_bad_seq,
        }
        for ns, project, report in result.reports
    ]
    if json_:
        print_json(
            {
                "backend": result.backend,
                "schema_revision": result.schema_revision,
                "files": result.files,
                "ok": result.ok,
                "journals": journals,
            }
        )
    else:
        out.print(
            f"restored the {result.backend} database and {result.files} data files "
            f"into {settings.data_dir} (schema {result.schema_revision})"
        )
        for item in journals:
            mark = "ok" if item["ok"] else f"FAILED at seq {item['first_bad_seq']}"
            out.print(f"  {item['namespace']}/{item['project']}: {item['checked']} entries {mark}")
    if not result.ok:
        err.print("[red]verification failed after restore[/red]")
        raise typer.Exit(1)
