"""`roundtable keys`: the signing keys (list, export, rotate, register); opens the database
directly, like `db upgrade`, since keys belong to the deployment, not to a namespace.

`export` prints the JWKS (for JWT verifiers) or, with `--note`, the C2SP signed-note verifier
keys (`name+hash+key`) that any tlog-checkpoint verifier accepts. Publish or pin these outside
the server: they are what lets someone without database access check a checkpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from roundtable.cli.common import JsonOpt, err, fail, load_settings, out, print_json
from roundtable.cli.render import Fit
from roundtable.config import Settings
from roundtable.errors import RoundtableError

if TYPE_CHECKING:
    from roundtable.auth import keyring
    from roundtable.store.engine import Database

# The key, note and store modules (SQLAlchemy, Alembic) are imported by the commands that use
# them, so `roundtable --help` does not load them.

app = typer.Typer(
    help="Signing keys: list, export (JWKS, signed-note verifier keys), rotate, trust.",
    invoke_without_command=True,
)
T = TypeVar("T")


def _with_db(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    from roundtable.store import migrate
    from roundtable.store.engine import Database

    async def main() -> T:
        db = Database(
            settings.effective_database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms
        )
        try:
            await migrate.upgrade(db)
            return await work(db)
        finally:
            await db.close()

    try:
        return asyncio.run(main())
    except RoundtableError as error:
        raise fail(error) from None


async def _keys(db: Database) -> dict[str, keyring.PublicKey]:
    from roundtable.auth import keyring

    async with db.read() as conn:
        return await keyring.load_keys(conn)


def _rows(settings: Settings, keys: dict[str, keyring.PublicKey]) -> list[dict[str, Any]]:
    from roundtable.auth import keyring
    from roundtable.journal import notes

    current, retired = keyring.local_kids(settings.data_dir)
    rows = []
    for key in keys.values():
        if not key.consistent:
            where = "FORGED (public key does not match kid)"
        elif key.kid == current:
            where = "current (this data directory)"
        elif key.kid in retired:
            where = "retired (this data directory)"
        else:
            where = "another instance's" if key.retired_at is None else "retired elsewhere"
        rows.append(
            {
                "kid": key.kid,
                "created_at": key.created_at.isoformat(),
                "retired_at": key.retired_at.isoformat() if key.retired_at else None,
                "status": where,
                "verifier_key": notes.verifier_key(settings.log_origin, key.public_raw),
            }
        )
    return rows


@app.callback()
def keys(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """List every registered signing key (the default action)."""
    if ctx.invoked_subcommand is not None:
        return
    list_keys(json_)


@app.command("list")
def list_keys(json_: JsonOpt = False) -> None:
    """List every registered signing key: id, dates, where its private key is."""
    settings = load_settings()
    rows = _rows(settings, _with_db(settings, _keys))
    if json_:
        print_json(rows)
        return
    table = Table("kid", "created", "retired", "status", "verifier key")
    for row in rows:
        table.add_row(
            row["kid"],
            row["created_at"][:19],
            (row["retired_at"] or "")[:19],
            row["status"],
            row["verifier_key"],
        )

    def lines() -> Iterator[RenderableType]:
        for row in rows:
            retired = f"  retired {row['retired_at'][:19]}" if row["retired_at"] else ""
            yield Text(f"{row['kid']}  {row['status']}  created {row['created_at'][:19]}{retired}")
            yield Text(f"  {row['verifier_key']}", style="dim")

    out.print(Fit(table, lines, wide_from=160))


@app.command("export")
def export(
    note: Annotated[
        bool, typer.Option("--note", help="Signed-note verifier keys, one a line, not JWKS.")
    ] = False,
) -> None:
    """Print the public keys: JWKS JSON (default) or signed-note verifier key strings."""
    from roundtable.journal import notes

    settings = load_settings()
    keys = [k for k in _with_db(settings, _keys).values() if k.consistent]
    if note:
        for key in keys:
            out.print(notes.verifier_key(settings.log_origin, key.public_raw), soft_wrap=True)
        return
    print_json({"keys": [k.jwk() for k in keys]})


@app.command("rotate")
def rotate(json_: JsonOpt = False) -> None:
    """Make a new key current and retire the old one (it still verifies what it signed)."""
    from roundtable.auth import keyring

    settings = load_settings()
    old, new = _with_db(settings, lambda db: keyring.rotate(db, settings.data_dir))
    if json_:
        print_json({"retired": old, "current": new})
        return
    out.print(f"retired key {old}; signing with {new} from now on")
    err.print(
        "running servers on this data directory switch to the new key within "
        f"{settings.sweep_interval_seconds:g}s (their sweep interval)"
    )


@app.command("register")
def register() -> None:
    """Register this data directory's key file (a new instance whose key was made offline)."""
    from roundtable.auth import keyring

    settings = load_settings()
    kid = _with_db(settings, lambda db: keyring.register_disk_key(db, settings.data_dir))
    out.print(f"registered key {kid}")


@app.command("trust")
def trust(
    kids: Annotated[list[str], typer.Argument(help="Key ids (16 hex digits) to trust.")],
) -> None:
    """Trust another deployment's keys: `verify` then accepts checkpoints they signed.

    The list lives in DATA_DIR/keys/trusted (not in the database), next to
    ROUNDTABLE_TRUSTED_KEYS; check the key ids against what the other side published
    (`roundtable keys export --note` there)."""
    from roundtable.auth import keyring

    settings = load_settings()
    try:
        trusted = keyring.trust(settings.data_dir, kids)
    except RoundtableError as error:
        raise fail(error) from None
    out.print(f"trusted: {', '.join(sorted(trusted))} ({keyring.trust_file(settings.data_dir)})")
