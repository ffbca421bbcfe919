"""How the CLI shows things to people: Rich tables and lines built from the API's models.

User-provided text (messages, names, metadata) is always wrapped in `Text`, never parsed as Rich
markup, so a message containing `[red]` prints literally.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderableType
from rich.table import Table
from rich.text import Text

from roundtable.journal.models import Entry, ProjectInfo, Status, VerifyReport
from roundtable.sessions.models import ContextInfo, SessionInfo, SessionStatus

STATUS_STYLE: dict[Status, str] = {
    Status.INFO: "cyan",
    Status.SUCCESS: "green",
    Status.WARN: "yellow",
    Status.ERROR: "red",
    Status.BUG: "magenta",
}

SESSION_STYLE: dict[SessionStatus, str] = {
    SessionStatus.ACTIVE: "green",
    SessionStatus.FINISHED: "dim",
    SessionStatus.FAILED: "red",
    SessionStatus.STOPPED: "yellow",
    SessionStatus.EXPIRED: "dim red",
    SessionStatus.PENDING: "cyan",
    SessionStatus.RUNNING: "green",
    SessionStatus.IDLE: "blue",
}


def when(moment: datetime | None) -> str:
    """A timestamp in the viewer's local time, to the second."""
    return "" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def short(digest: str, n: int = 12) -> str:
    return digest[:n]


def meta_text(meta: dict[str, Any]) -> str:
    return json.dumps(meta, ensure_ascii=False, separators=(",", ":")) if meta else ""


def entry_line(entry: Entry, *, show_project: bool = False) -> Text:
    """One entry as one log line: `#seq time agent status [kind] message meta`."""
    line = Text()
    if show_project:
        line.append(f"{entry.project} ", style="bold")
    line.append(f"#{entry.seq} ", style="bold")
    line.append(f"{when(entry.ts)} ", style="dim")
    line.append(f"{entry.agent} ", style="blue")
    line.append(f"{entry.emoji} {entry.status.value} ", style=STATUS_STYLE[entry.status])
    line.append(f"[{entry.kind}] ", style="dim")
    line.append(entry.message)
    if entry.meta:
        line.append(f"  {meta_text(entry.meta)}", style="dim")
    return line


@dataclass
class Fit:
    """A table on a terminal wide enough for it, else the same rows as wrapped lines.

    Squeezed into 80 columns, a wide table folds its headers (`messa`/`ge`) and shrinks short
    columns to nothing; lines that wrap stay readable at any width, and ids stay whole.
    """

    table: Table
    lines: Callable[[], Iterable[RenderableType]]
    wide_from: int

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Any]:
        if options.max_width >= self.wide_from:
            yield self.table
        else:
            yield Group(*self.lines())


def entries_table(entries: Iterable[Entry], *, title: str | None = None) -> Fit:
    entries = list(entries)

    def lines() -> Iterator[RenderableType]:
        if title:
            yield Text(title, style="bold")
        for e in entries:
            yield entry_line(e, show_project=True)

    return Fit(_entries_table(entries, title=title), lines, wide_from=120)


def _entries_table(entries: list[Entry], *, title: str | None) -> Table:
    table = Table(title=title, show_lines=False)
    table.add_column("project")
    table.add_column("seq", justify="right")
    table.add_column("time", style="dim", no_wrap=True)
    table.add_column("agent", style="blue")
    table.add_column("status")
    table.add_column("kind", style="dim")
    table.add_column("message", overflow="fold")
    table.add_column("meta", style="dim", overflow="fold")
    for e in entries:
        table.add_row(
            Text(e.project),
            str(e.seq),
            when(e.ts),
            Text(e.agent),
            Text(f"{e.emoji} {e.status.value}", style=STATUS_STYLE[e.status]),
            Text(e.kind),
            Text(e.message),
            Text(meta_text(e.meta)),
        )
    return table


def sessions_table(sessions: Iterable[SessionInfo]) -> Fit:
    sessions = list(sessions)

    def lines() -> Iterator[RenderableType]:
        for s in sessions:
            yield Text.assemble(
                s.id, "  ", (s.agent, "blue"), "  ", (s.status.value, SESSION_STYLE[s.status])
            )
            ends = (
                f"ended {when(s.ended_at)}"
                if s.ended_at
                else f"lease until {when(s.lease_expires_at)}"
            )
            yield Text(f"  started {when(s.created_at)} · {ends}", style="dim")
            if s.parent_id:
                yield Text(f"  parent {s.parent_id}", style="dim")

    return Fit(_sessions_table(sessions), lines, wide_from=150)


def _sessions_table(sessions: list[SessionInfo]) -> Table:
    table = Table()
    table.add_column("id", no_wrap=True)
    table.add_column("agent", style="blue")
    table.add_column("status")
    table.add_column("started", style="dim", no_wrap=True)
    table.add_column("lease until / ended", style="dim", no_wrap=True)
    table.add_column("parent", style="dim")
    for s in sessions:
        table.add_row(
            s.id,
            Text(s.agent),
            Text(s.status.value, style=SESSION_STYLE[s.status]),
            when(s.created_at),
            when(s.ended_at or s.lease_expires_at),
            s.parent_id or "",
        )
    return table


def projects_table(projects: Iterable[ProjectInfo]) -> Fit:
    projects = list(projects)

    def lines() -> Iterator[RenderableType]:
        for p in projects:
            yield Text.assemble(
                (p.name, "bold"),
                f"  {p.size} {'entry' if p.size == 1 else 'entries'}",
                (f"  head {short(p.head_hash)}", "dim"),
            )
            yield Text.assemble(
                ("  created ", "dim"), (when(p.created_at), "dim"), " by ", (p.created_by, "blue")
            )
            if p.description:
                yield Text(f"  {p.description}")

    return Fit(_projects_table(projects), lines, wide_from=100)


def _projects_table(projects: list[ProjectInfo]) -> Table:
    table = Table()
    table.add_column("project", style="bold")
    table.add_column("entries", justify="right")
    table.add_column("head", style="dim")
    table.add_column("created by", style="blue")
    table.add_column("created", style="dim", no_wrap=True)
    table.add_column("description", overflow="fold")
    for p in projects:
        table.add_row(
            Text(p.name),
            str(p.size),
            short(p.head_hash),
            Text(p.created_by),
            when(p.created_at),
            Text(p.description),
        )
    return table


def project_details(project: ProjectInfo, context: ContextInfo | None = None) -> Table:
    """A key/value view of one project, with the agent's context when it is the current one."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("project", Text(project.name))
    table.add_row("namespace", Text(project.namespace))
    table.add_row("entries", str(project.size))
    table.add_row("head hash", project.head_hash)
    table.add_row("created", f"{when(project.created_at)} by {project.created_by}")
    if project.description:
        table.add_row("description", Text(project.description))
    if context is not None:
        table.add_row("current of", Text(f"{context.agent} (context version {context.version})"))
    return table


def context_line(context: ContextInfo) -> Text:
    return Text.assemble(
        (context.agent, "blue"),
        " is on project ",
        (context.project or "(none)", "bold"),
        (f" (context version {context.version})", "dim"),
    )


def count(n: int, noun: str) -> str:
    """`1 archive`, `2 archives`."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def verify_report(report: VerifyReport) -> Text:
    if report.ok:
        return Text.assemble(
            ("✓ ", "bold green"),
            (report.project, "bold"),
            f": {report.checked} {'entry' if report.checked == 1 else 'entries'} verified, "
            f"head {short(report.head_hash)}",
            (
                f"\n  {count(report.tree_nodes_checked, 'tree node')}, "
                f"{count(report.checkpoints_checked, 'signed checkpoint')}, "
                f"{count(report.segments_checked, 'archive')} "
                f"({count(report.archived_checked, 'line')}) checked",
                "dim",
            ),
        )
    text = Text.assemble(
        ("✗ ", "bold red"),
        (report.project, "bold"),
        ": verification failed",
        (f" at entry #{report.first_bad_seq}" if report.first_bad_seq is not None else ""),
        (f" ({report.problem})" if report.problem else "", "red"),
    )
    if report.detail:
        text.append(f"\n  {report.detail}")
    text.append(f"\n  checked {report.checked} of {report.size} entries", style="dim")
    return text
