"""Importing a Scribe MCP installation (D14) into a namespace, idempotently.

Every Scribe entry becomes a journal entry of kind `scribe`, appended through
`JournalService.append` like any other (server `ts`, chained, in the Merkle tree, checkpointed);
its own time goes in `meta.occurred_at`, its origin in `meta.source` (`scribe-db` or
`scribe-md`) and `meta.source_id` (the database row's id, or `md:<line sha256>:<n>` for a log
line without a row). A rerun loads each project's imported `source_id`s once and appends only
the entries not seen before, so running it twice imports nothing new. A run holds the
namespace's import lease (`store.leases`) from that read to its last append, so a second import
started meanwhile is refused instead of appending the same entries again.

Entries that cannot be imported (a message or meta over the limits, an unparsable log line)
are reported with their reason and the import continues with the rest; `strict=True` refuses
the whole import instead, before anything is written. Scribe's global current project becomes
the context of the agent `Scribe` (changed only if it differs, so reruns leave it alone).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from roundtable.errors import InvalidInput, NotFound, RateLimited
from roundtable.journal import retention
from roundtable.journal.models import EntryInput
from roundtable.runtime import Roundtable
from roundtable.store import leases, tables
from roundtable.transfer.scribe_format import iso, status_of
from roundtable.transfer.scribe_source import Installation, Problem, ScribeEntry, ScribeProject
from roundtable.validation import check_message, check_meta, check_name

#: The agent that owns imported projects and receives Scribe's global current project.
SCRIBE_AGENT = "Scribe"
KIND = "scribe"
RESERVED = ("occurred_at", "source", "source_id")
#: How long an import's lease outlives a crashed importer (renewed as batches commit).
LEASE_SECONDS = 60.0

Progress = Callable[[int], None]


@dataclass
class ProjectResult:
    scribe_name: str
    name: str
    created: bool = False
    imported: int = 0
    already: int = 0
    rejected: int = 0


@dataclass
class ScribeReport:
    namespace: str
    dry_run: bool
    projects: list[ProjectResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    other_lines: int = 0
    context_project: str | None = None
    context_changed: bool = False

    @property
    def imported(self) -> int:
        return sum(p.imported for p in self.projects)

    @property
    def already(self) -> int:
        return sum(p.already for p in self.projects)


@dataclass
class _Planned:
    project: ScribeProject
    result: ProjectResult
    items: list[tuple[str, str, EntryInput]] = field(default_factory=list)  # source_id, agent


_INVALID = {
    "project": re.compile(r"[^A-Za-z0-9._-]+"),
    "agent": re.compile(r"[^A-Za-z0-9._@:-]+"),
}


def safe_name(what: str, name: str | None, fallback: str) -> str:
    """A valid project or agent name for a Scribe one: other characters become `-`."""
    cleaned = _INVALID[what].sub("-", (name or "").strip())
    cleaned = cleaned.lstrip("._-@:")[:128].rstrip("-") or fallback
    return check_name(what, cleaned)


def _names(projects: list[ScribeProject]) -> dict[str, str]:
    """Scribe project name -> ours, de-duplicated deterministically (`name`, `name-2`, ...)."""
    taken: set[str] = set()
    names: dict[str, str] = {}
    for project in sorted(projects, key=lambda p: p.name):
        base = safe_name("project", project.name, "scribe-project")[:120]
        candidate, n = base, 1
        while candidate.lower() in taken:
            n += 1
            candidate = f"{base}-{n}"
        taken.add(candidate.lower())
        names[project.name] = candidate
    return names


def entry_input(entry: ScribeEntry, agent: str, max_meta: int, max_message: int) -> EntryInput:
    """The journal entry for a Scribe entry; `InvalidInput` if it breaks a limit."""
    status, canonical = status_of(entry.emoji)
    source = entry.meta if isinstance(entry.meta, dict) else {"scribe_meta": entry.meta}
    meta: dict[str, Any] = {}
    for key, value in source.items():
        meta[f"scribe_{key}" if key in RESERVED else str(key)] = value
    for key, value in entry.extras.items():
        meta[f"scribe_{key}"] = value
    if not canonical:
        meta["scribe_emoji"] = entry.emoji
    if entry.agent != agent:
        meta["scribe_agent"] = entry.agent
    meta.update(occurred_at=iso(entry.occurred_at), source=entry.source, source_id=entry.source_id)
    check_message(entry.message, max_message)
    check_meta(meta, max_meta)
    return EntryInput(message=entry.message, status=status, kind=KIND, meta=meta)


async def imported_ids(core: Roundtable, namespace: str, project: str) -> set[str]:
    """The `source_id`s already imported into a project (read once per project and run).

    Bodies pruned by retention are read back from their archives, so a rerun after rotation
    and pruning still recognises what it imported.
    """
    E, P = tables.entries, tables.projects
    async with core.db.read() as conn:
        pid = await conn.scalar(
            select(P.c.id).where(P.c.namespace == namespace, P.c.name == project)
        )
        rows = (
            (
                await conn.execute(
                    select(E.c.seq, E.c.hash, E.c.pruned, E.c.message, E.c.meta).where(
                        E.c.project_id == pid, E.c.kind == KIND
                    )
                )
            )
            .mappings()
            .all()
        )
        filled = await retention.fill_pruned(
            conn, core.settings.data_dir, int(pid or 0), [dict(row) for row in rows]
        )
    return {
        str(row["meta"]["source_id"])
        for row in filled
        if isinstance(row["meta"], dict) and "source_id" in row["meta"]
    }


async def plan(core: Roundtable, install: Installation, namespace: str) -> list[_Planned]:
    """What an import would do: per project, the entries not imported yet (nothing written)."""
    check_name("namespace", namespace)
    s = core.settings
    names = _names(install.projects)
    planned: list[_Planned] = []
    for project in sorted(install.projects, key=lambda p: names[p.name]):
        name = names[project.name]
        result = ProjectResult(project.name, name)
        try:
            await core.journal.get_project(namespace, name)
            done = await imported_ids(core, namespace, name)
        except NotFound:
            result.created, done = True, set()
        p = _Planned(project, result)
        for entry in project.entries:
            if entry.source_id in done:
                result.already += 1
                continue
            agent = safe_name("agent", entry.agent, SCRIBE_AGENT)
            try:
                item = entry_input(entry, agent, s.max_meta_bytes, s.max_message_chars)
            except InvalidInput as exc:
                result.rejected += 1
                install.problems.append(Problem(entry.where, f"not imported: {exc.message}"))
                continue
            p.items.append((entry.source_id, agent, item))
        planned.append(p)
    return planned


async def import_scribe(
    core: Roundtable,
    install: Installation,
    namespace: str,
    *,
    dry_run: bool = False,
    strict: bool = False,
    on_total: Callable[[int], None] | None = None,
    progress: Progress | None = None,
) -> ScribeReport:
    """Import `install` into `namespace` (see the module docstring).

    A real run holds the namespace's import lease from planning to the last append, so two
    imports started at once cannot both append the same entries: the second is refused with a
    conflict and, run again, imports only what is left.
    """
    if dry_run:
        return await _import(core, install, namespace, True, strict, on_total, progress, None)
    busy = (
        f"another Scribe import into namespace {namespace!r} is running; run this one again "
        "when it has finished (it will import only what is left)"
    )
    name = leases.lease_name("scribe-import", namespace)
    async with leases.hold(core.db, name, LEASE_SECONDS, busy) as lease:
        return await _import(core, install, namespace, False, strict, on_total, progress, lease)


async def _import(
    core: Roundtable,
    install: Installation,
    namespace: str,
    dry_run: bool,
    strict: bool,
    on_total: Callable[[int], None] | None,
    progress: Progress | None,
    lease: leases.Lease | None,
) -> ScribeReport:
    planned = await plan(core, install, namespace)
    report = ScribeReport(
        namespace=namespace,
        dry_run=dry_run,
        projects=[p.result for p in planned],
        problems=install.problems,
        other_lines=install.other_lines,
    )
    if strict and report.problems:
        raise InvalidInput(
            f"{len(report.problems)} Scribe entries or lines cannot be imported "
            "(run without --strict to import the rest); first: "
            f"{report.problems[0].where}: {report.problems[0].reason}",
            problems=len(report.problems),
        )
    if on_total is not None:
        on_total(sum(len(p.items) for p in planned))
    names = {p.project.name: p.result.name for p in planned}
    target = names.get(install.current_project or "")
    if install.current_project and target is None:
        report.problems.append(
            Problem("state.json", f"current project {install.current_project!r} is unknown")
        )
    if dry_run:
        for p in planned:
            p.result.imported = len(p.items)
        if target is not None:
            current = await core.context.get(namespace, SCRIBE_AGENT)
            report.context_project, report.context_changed = target, current.project != target
        return report
    for p in planned:
        if p.result.created:
            await core.journal.create_project(
                namespace, SCRIBE_AGENT, p.result.name, _description(p.project)
            )
        await _append_all(core, namespace, p, progress, lease)
    if target is not None:
        current = await core.context.get(namespace, SCRIBE_AGENT)
        report.context_project = target
        if current.project != target:
            await core.context.set(namespace, SCRIBE_AGENT, target)
            report.context_changed = True
    return report


def _description(project: ScribeProject) -> str:
    text = f"Imported from Scribe MCP project {project.name!r} (repo {project.repo_root})"
    return text.replace("\x00", "")


async def _append_all(
    core: Roundtable,
    namespace: str,
    p: _Planned,
    progress: Progress | None,
    lease: leases.Lease | None,
) -> None:
    """Append in Scribe's order, one batch per run of the same agent (at most the batch limit)."""
    limit = core.settings.max_batch_entries
    i = 0
    while i < len(p.items):
        agent = p.items[i][1]
        j = i
        while j < len(p.items) and j - i < limit and p.items[j][1] == agent:
            j += 1
        batch = [item for _, _, item in p.items[i:j]]
        while True:
            try:
                await core.journal.append(namespace, agent, p.result.name, batch)
                break
            except RateLimited as exc:  # the importer is one more writer; it waits its turn
                await asyncio.sleep(exc.retry_after)
        p.result.imported += len(batch)
        if lease is not None:
            await lease.renew_if_due()
        if progress is not None:
            progress(len(batch))
        i = j
