"""`roundtable mcp` (stdio) remembers the checkpoints it has seen (D16), like the CLI.

The stdio server opens the database itself, so it is a client of the database's history as
much as the CLI is of the server's: at start and then every `sweep_interval_seconds` it checks
the latest checkpoint of every journal of its namespace against the one it remembered
(`client.remembered`, in the state cache next to the agent's D15 state), and logs a loud
warning on stderr (logger `roundtable.mcp`) on a fork or rollback, keeping the old one.
"""

from __future__ import annotations

import asyncio
import logging

from roundtable.client.remembered import RememberedCheckpoints, Verdict
from roundtable.errors import NotFound, RoundtableError
from roundtable.journal import checkpoints
from roundtable.journal.models import ConsistencyProof
from roundtable.runtime import Roundtable

log = logging.getLogger("roundtable.mcp")


def _warn(message: str) -> None:
    log.warning("WARNING: %s", message)


async def check_once(core: Roundtable, namespace: str) -> dict[str, Verdict]:
    """Check every journal's latest checkpoint against the remembered one."""
    memory = RememberedCheckpoints(
        core.settings.data_dir / "state", core.settings.effective_database_url, namespace, _warn
    )
    verdicts: dict[str, Verdict] = {}
    for project in await core.journal.list_projects(namespace):
        try:
            latest = await checkpoints.latest(core.db, namespace, project.name)
        except NotFound:
            continue

        async def prove(old: int, new: int, name: str = project.name) -> ConsistencyProof:
            return await core.journal.consistency_proof(namespace, name, old, new)

        verdicts[project.name] = await memory.check(project.name, latest, prove)
    return verdicts


async def watch(core: Roundtable, namespace: str) -> None:
    """`check_once` now and every sweep interval, until cancelled; failures are logged."""
    while True:
        try:
            await check_once(core, namespace)
        except RoundtableError as exc:
            log.warning("checking remembered checkpoints failed: %s", exc.message)
        await asyncio.sleep(core.settings.sweep_interval_seconds)
