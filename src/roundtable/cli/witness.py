"""`roundtable witness`: run a C2SP tlog-witness that cosigns other logs' checkpoints
(`witness.service`). Give it the logs' signed-note verifier keys (`roundtable keys export
--note` on each log's host); give each log the witness's key and URL (ROUNDTABLE_WITNESSES)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

import typer

from roundtable.cli.common import err, load_settings, out
from roundtable.journal import notes


def witness(
    log: Annotated[
        list[str] | None,
        typer.Option("--log", help="A log's signed-note verifier key (repeat for several)."),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="The witness's key name (default: witness/<host name>).")
    ] = None,
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8766,
    data_dir: Annotated[Path | None, typer.Option(help="Where its key and state live.")] = None,
    print_key: Annotated[
        bool, typer.Option("--print-key", help="Print the witness's verifier key and exit.")
    ] = False,
) -> None:
    """Cosign checkpoints of the given logs (C2SP tlog-witness, POST /add-checkpoint)."""
    import uvicorn

    from roundtable.witness.service import Witness, create_witness_app

    settings = load_settings(data_dir=data_dir)
    try:
        logs = [notes.NoteVerifier.parse(vkey) for vkey in log or []]
    except notes.NoteError as exc:
        raise typer.BadParameter(str(exc), param_hint="--log") from None
    w = Witness(settings.data_dir, name or f"witness/{socket.gethostname()}", logs)
    if print_key:
        out.print(w.verifier_key, markup=False, highlight=False, soft_wrap=True)
        return
    if not logs:
        raise typer.BadParameter("name at least one log to witness", param_hint="--log")
    err.print(f"witness {w.verifier_key} on http://{host}:{port}", soft_wrap=True)
    uvicorn.run(create_witness_app(w), host=host, port=port, log_level="warning")
