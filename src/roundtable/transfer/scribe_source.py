"""Reading a Scribe MCP installation from disk: its database, progress logs and state file.

Layout (Scribe MCP's `config/paths.py` and `config/settings.py`): the installation root holds
`.scribe/state.json` (`SCRIBE_STATE_PATH`) and, by default, `data/scribe_projects.db`
(`SCRIBE_DB_PATH`; without a `data/` directory Scribe falls back to
`$XDG_DATA_HOME/scribe_mcp/scribe_projects.db`, which `--db` can name). Each project row names
its progress log (`progress_log_path`, relative to `repo_root` unless absolute), usually
`.scribe/docs/dev_plans/<project>/PROGRESS_LOG.md`. `state.json`'s `projects` may add projects
that only have a log.

Nothing here writes: the result is a list of projects with their entries, de-duplicated
between the database and the logs, plus every line or row that could not be read (`problems`).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from roundtable.errors import InvalidInput
from roundtable.transfer.scribe_format import NotAnEntry, looks_like_entry, parse_line, parse_ts

DB_NAMES = ("data/scribe_projects.db", "scribe_projects.db", ".scribe/scribe_projects.db")
REQUIRED = {
    "scribe_projects": ("id", "name", "repo_root", "progress_log_path"),
    "scribe_entries": ("id", "project_id", "ts", "emoji", "message", "raw_line", "sha256"),
}
#: Optional `scribe_entries` columns carried into meta as `scribe_<column>` when set.
EXTRA_COLUMNS = ("log_type", "priority", "category", "tags", "confidence")


@dataclass
class Problem:
    where: str
    reason: str


@dataclass
class ScribeEntry:
    source: str  # "scribe-db" or "scribe-md"
    source_id: str
    occurred_at: datetime
    emoji: str
    agent: str | None
    message: str
    meta: Any  # a dict, or the raw text when the row's meta is not a JSON object
    extras: dict[str, Any]
    where: str


@dataclass
class ScribeProject:
    name: str
    repo_root: str
    log_path: Path | None
    created_at: str | None
    entries: list[ScribeEntry] = field(default_factory=list)


@dataclass
class Installation:
    root: Path
    db_path: Path | None
    state_path: Path | None
    current_project: str | None
    projects: list[ScribeProject]
    problems: list[Problem]
    logs_read: list[Path]
    other_lines: int = 0


def locate(path: Path, db: Path | None = None) -> tuple[Path, Path | None, Path | None]:
    """The installation root, database and state file for what a user points at.

    PATH may be the installation root, its `.scribe` directory, the database file or
    `state.json` itself.
    """
    path = path.expanduser().resolve()
    if not path.exists():
        raise InvalidInput(f"{path} does not exist", field="path")
    if path.is_file():
        if path.name == "state.json":
            scribe_dir = path.parent
            root = scribe_dir.parent if scribe_dir.name == ".scribe" else scribe_dir
            state: Path | None = path
        else:
            db, root, state = db or path, path.parent, None
            if root.name == "data":
                root = root.parent
    else:
        root = path.parent if path.name == ".scribe" else path
        state = None
    if state is None and (root / ".scribe" / "state.json").is_file():
        state = root / ".scribe" / "state.json"
    if db is None:
        db = next((root / name for name in DB_NAMES if (root / name).is_file()), None)
    elif not db.is_file():
        raise InvalidInput(f"no Scribe database at {db}", field="db")
    if db is None and state is None:
        raise InvalidInput(
            f"no Scribe installation at {path}: expected {' or '.join(DB_NAMES)} or "
            ".scribe/state.json (name the database with --db)",
            field="path",
        )
    return root, db, state


def read_installation(path: Path, db: Path | None = None) -> Installation:
    root, db_path, state_path = locate(path, db)
    problems: list[Problem] = []
    state = _read_state(state_path, problems)
    projects = _read_db(db_path, problems) if db_path else {}
    for name, info in (state.get("projects") or {}).items():
        if name not in projects and isinstance(info, dict):
            log = info.get("progress_log")
            projects[name] = ScribeProject(
                name=name,
                repo_root=str(info.get("root") or root),
                log_path=_resolve(str(info.get("root") or root), log) if log else None,
                created_at=None,
            )
        elif name in projects and projects[name].log_path is None and isinstance(info, dict):
            log = info.get("progress_log")
            if log:
                projects[name].log_path = _resolve(projects[name].repo_root, log)
    install = Installation(
        root=root,
        db_path=db_path,
        state_path=state_path,
        current_project=state.get("current_project") or None,
        projects=list(projects.values()),
        problems=problems,
        logs_read=[],
    )
    for project in install.projects:
        _merge_log(install, project)
        project.entries.sort(key=lambda e: e.occurred_at)  # stable: db order, then log order
    return install


def _resolve(repo_root: str, log: str) -> Path:
    p = Path(log).expanduser()
    return p if p.is_absolute() else Path(repo_root).expanduser() / p


def _read_state(path: Path | None, problems: list[Problem]) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        problems.append(Problem(str(path), f"state file not read: {exc}"))
        return {}
    if not isinstance(data, dict):
        problems.append(Problem(str(path), "state file is not a JSON object"))
        return {}
    return data


def _columns(conn: sqlite3.Connection, table: str, db: Path) -> set[str]:
    cols = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    missing = [c for c in REQUIRED[table] if c not in cols]
    if missing:
        raise InvalidInput(
            f"{db} is not a Scribe database: table {table} lacks {', '.join(missing)}",
            field="db",
        )
    return cols


def _read_db(db: Path, problems: list[Problem]) -> dict[str, ScribeProject]:
    """Projects and entries from the database, opened read-only (Scribe may be running)."""
    try:
        conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise InvalidInput(f"cannot open {db}: {exc}", field="db") from None
    conn.row_factory = sqlite3.Row
    try:
        try:
            pcols = _columns(conn, "scribe_projects", db)
            ecols = _columns(conn, "scribe_entries", db)
        except sqlite3.DatabaseError as exc:
            raise InvalidInput(f"{db} is not a SQLite database: {exc}", field="db") from None
        by_id: dict[int, ScribeProject] = {}
        created = "created_at" if "created_at" in pcols else "NULL"
        for row in conn.execute(
            f"SELECT id, name, repo_root, progress_log_path, {created} AS created_at "
            "FROM scribe_projects ORDER BY id"
        ):
            by_id[row["id"]] = ScribeProject(
                name=str(row["name"]),
                repo_root=str(row["repo_root"]),
                log_path=_resolve(str(row["repo_root"]), str(row["progress_log_path"]))
                if row["progress_log_path"]
                else None,
                created_at=row["created_at"],
            )
        optional = [c for c in ("ts_iso", "agent", "meta", *EXTRA_COLUMNS) if c in ecols]
        select = ", ".join(["id", "project_id", "ts", "emoji", "message", "raw_line", "sha256"])
        order = "rowid"
        for row in conn.execute(
            f"SELECT {select}{''.join(', ' + c for c in optional)} FROM scribe_entries "
            f"ORDER BY {order}"
        ):
            _add_db_row(by_id, dict(row), problems)
    finally:
        conn.close()
    return {p.name: p for p in by_id.values()}


def _add_db_row(
    by_id: dict[int, ScribeProject], row: dict[str, Any], problems: list[Problem]
) -> None:
    where = f"scribe_entries id={row['id']}"
    project = by_id.get(row["project_id"])
    if project is None:
        problems.append(
            Problem(where, f"project_id {row['project_id']} has no scribe_projects row")
        )
        return
    occurred = parse_ts(str(row.get("ts_iso") or "")) or parse_ts(str(row["ts"] or ""))
    if occurred is None:
        problems.append(Problem(where, f"unreadable timestamp {row['ts']!r}"))
        return
    meta: Any = {}
    if row.get("meta"):
        try:
            meta = json.loads(row["meta"])
        except ValueError:
            meta = row["meta"]
    project.entries.append(
        ScribeEntry(
            source="scribe-db",
            source_id=str(row["id"]),
            occurred_at=occurred,
            emoji=str(row["emoji"] or ""),
            agent=row.get("agent"),
            message=str(row["message"] or ""),
            meta=meta,
            extras={c: row[c] for c in EXTRA_COLUMNS if row.get(c) is not None and row[c] != ""},
            where=where,
        )
    )
    project.entries[-1].extras["_raw_line"] = row["raw_line"]
    project.entries[-1].extras["_sha256"] = row["sha256"]


def _line_key(ts: datetime, agent: str | None, message: str) -> tuple[str, str, str]:
    return (ts.strftime("%Y-%m-%d %H:%M:%S"), agent or "", message.strip())


def _merge_log(install: Installation, project: ScribeProject) -> None:
    """Add the progress log's entries that the database does not already hold.

    A log line matches a database row with the same line text (`raw_line`/`sha256`) or the same
    second, agent and message; each row matches at most one line. A line without a row gets the
    id `md:<sha256 of the line>:<n>` (n counts identical lines), stable across reruns.
    """
    by_sha: dict[str, list[ScribeEntry]] = defaultdict(list)
    by_key: dict[tuple[str, str, str], list[ScribeEntry]] = defaultdict(list)
    for entry in project.entries:
        by_sha[str(entry.extras.pop("_sha256"))].append(entry)
        raw = str(entry.extras.pop("_raw_line"))
        if raw:
            by_sha[hashlib.sha256(raw.strip().encode()).hexdigest()].append(entry)
        by_key[_line_key(entry.occurred_at, entry.agent, entry.message)].append(entry)
    matched: set[int] = set()
    path = project.log_path
    if path is None or not path.is_file():
        if path is not None:
            install.problems.append(Problem(str(path), "progress log not found"))
        return
    install.logs_read.append(path)
    seen: Counter[str] = Counter()
    text = path.read_text(encoding="utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"{path}:{number}"
        if not looks_like_entry(line):
            install.other_lines += 1
            continue
        try:
            parsed = parse_line(line)
        except NotAnEntry as exc:
            install.problems.append(Problem(where, f"not a Scribe entry ({exc}): {line[:120]}"))
            continue
        digest = hashlib.sha256(line.strip().encode()).hexdigest()
        twins = [
            e
            for e in by_sha.get(digest, [])
            + by_key.get(_line_key(parsed.ts, parsed.agent, parsed.message), [])
            if id(e) not in matched
        ]
        if twins:
            matched.add(id(twins[0]))
            continue
        occurrence = seen[digest]
        seen[digest] += 1
        project.entries.append(
            ScribeEntry(
                source="scribe-md",
                source_id=f"md:{digest[:32]}:{occurrence}",
                occurred_at=parsed.ts,
                emoji=parsed.emoji,
                agent=parsed.agent,
                message=parsed.message,
                meta=dict(parsed.meta),
                extras={"id": parsed.entry_id} if parsed.entry_id else {},
                where=where,
            )
        )
