"""A realistic Scribe MCP installation on disk, laid out as Scribe itself lays it out.

`<root>/data/scribe_projects.db` (SQLite: `scribe_projects`, `scribe_entries` with the newer
extra columns, `scribe_metrics`), `<root>/.scribe/state.json`, and per-project progress logs under
`<root>/.scribe/docs/dev_plans/<slug>/PROGRESS_LOG.md` written in Scribe's line format (entry
lines mirrored in the database, lines only in the log, a header with the format template,
unparsable lines, unicode).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HEADER = """# 📜 Progress Log — {name}
**Maintained By:** Scribe
**Timezone:** UTC

---

## Entry Format

```
[EMOJI] [YYYY-MM-DD HH:MM:SS UTC] [Agent: <name>] [Project: {name}] Message text | key=value; key2=value2
```

---
"""


def line(emoji: str, ts: str, agent: str, project: str, message: str, meta: dict[str, str]) -> str:
    """Scribe's `compose_log_line` (meta pairs sorted, as Scribe's normalize_metadata does)."""
    base = f"[{emoji}] [{ts}] [Agent: {agent}] [Project: {project}] {message}"
    if meta:
        return base + " | " + "; ".join(f"{k}={v}" for k, v in sorted(meta.items()))
    return base


@dataclass
class Row:
    """One scribe_entries row (and its log line unless `in_log` is False)."""

    emoji: str
    ts: str
    agent: str | None
    message: str
    meta: dict[str, Any]
    in_log: bool = True
    extras: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class Expected:
    root: Path
    db: Path
    state: Path
    logs: dict[str, Path]
    #: Entries each project must end up with: (source, message, status) in order.
    entries: dict[str, list[tuple[str, str, str]]]
    unparsable: list[str]  # "<file>:<line>" locations that must be reported
    rejected: list[str]  # db row ids that must be reported as not imported
    db_ids: dict[str, str]  # message -> Scribe row id


def build(root: Path) -> Expected:
    root.mkdir(parents=True, exist_ok=True)
    dev_plans = root / ".scribe" / "docs" / "dev_plans"
    web_log = dev_plans / "web" / "PROGRESS_LOG.md"
    reg_log = dev_plans / "scribe_registry_upgrade" / "PROGRESS_LOG.md"
    md_log = dev_plans / "notes" / "PROGRESS_LOG.md"
    for p in (web_log, reg_log, md_log):
        p.parent.mkdir(parents=True, exist_ok=True)

    web_rows = [
        Row("🧭", "2025-10-24 12:00:00 UTC", "Scribe", "Kickoff web build", {"phase": "bootstrap"}),
        Row(
            "✅",
            "2025-10-24 12:05:00 UTC",
            "A1",
            "Bootstrapped skeleton",
            {"phase": "bootstrap", "files": 3},
            extras={"log_type": "progress", "priority": "medium", "confidence": 0.9},
        ),
        Row(
            "⚠️",
            "2025-10-24 12:10:00 UTC",
            "Claude Code",
            "Flaky test in CI",
            {"source": "ci", "ticket": "W-7"},
        ),
        # In the database only (its log line was lost in a rotation).
        Row(
            "❌", "2025-10-24 12:20:00 UTC", "A1", "Deploy failed", {"env": "staging"}, in_log=False
        ),
        Row(
            "🐛",
            "2025-10-24 12:30:00 UTC",
            "A1",
            "Found off-by-one",
            {},
            extras={"log_type": "bug"},
        ),
        # Too large for the journal's meta limit: must be reported, not dropped silently.
        Row("ℹ️", "2025-10-24 12:40:00 UTC", "A1", "Huge dump", {"blob": "x" * 20_000}),
    ]
    reg_rows = [
        Row(
            "ℹ️",
            "2025-11-02 09:00:00 UTC",
            "Codex",
            "Investigating registry | read_recent",
            {"component": "read_recent"},
        ),
        Row("🤖", "2025-11-02 09:01:00 UTC", None, "Automated sweep ran", {}),
    ]
    db = root / "data" / "scribe_projects.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db)
    conn.executescript(
        """
        CREATE TABLE scribe_projects (
            id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,
            repo_root TEXT NOT NULL, progress_log_path TEXT NOT NULL,
            created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
            updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, docs_json TEXT);
        CREATE TABLE scribe_entries (
            id TEXT PRIMARY KEY, project_id INTEGER NOT NULL REFERENCES scribe_projects(id),
            ts TEXT NOT NULL, ts_iso TEXT NOT NULL, emoji TEXT NOT NULL, agent TEXT,
            message TEXT NOT NULL, meta TEXT, raw_line TEXT NOT NULL, sha256 TEXT NOT NULL,
            created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, log_type TEXT DEFAULT 'progress',
            priority TEXT DEFAULT 'medium', category TEXT, tags TEXT, confidence REAL DEFAULT 1.0);
        CREATE TABLE scribe_metrics (project_id INTEGER PRIMARY KEY, total_entries INTEGER);
        """
    )
    projects = [
        (1, "web", str(root), ".scribe/docs/dev_plans/web/PROGRESS_LOG.md", web_rows),
        (2, "Scribe Registry Upgrade", str(root), str(reg_log), reg_rows),
    ]
    lines: dict[str, list[str]] = {"web": [], "Scribe Registry Upgrade": []}
    for pid, name, repo, log, rows in projects:
        conn.execute(
            "INSERT INTO scribe_projects (id, name, repo_root, progress_log_path, docs_json) "
            "VALUES (?, ?, ?, ?, ?)",
            (pid, name, repo, log, json.dumps({"progress_log": log})),
        )
        for r in rows:
            raw = line(
                r.emoji,
                r.ts,
                r.agent or "Scribe",
                name,
                r.message,
                {k: str(v) for k, v in r.meta.items()},
            )
            iso = r.ts.replace(" UTC", "+00:00").replace(" ", "T")
            conn.execute(
                "INSERT INTO scribe_entries (id, project_id, ts, ts_iso, emoji, agent, message, "
                "meta, raw_line, sha256, log_type, priority, confidence) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    r.id,
                    pid,
                    r.ts,
                    iso,
                    r.emoji,
                    r.agent,
                    r.message,
                    json.dumps(r.meta),
                    raw,
                    hashlib.sha256(raw.encode()).hexdigest(),
                    r.extras.get("log_type", "progress"),
                    r.extras.get("priority"),
                    r.extras.get("confidence"),
                ),
            )
            if r.in_log:
                lines[name].append(raw)
    conn.commit()
    conn.close()

    # The web log: the header (its template line does not parse), the mirrored lines, and
    # lines that exist only in the log, one of them twice, one with unicode.
    only_web = [
        line(
            "✅", "2025-10-24 12:06:00 UTC", "A2", "web", "Café déployé — 世界 🌍", {"lang": "fr"}
        ),
        line("ℹ️", "2025-10-24 12:07:00 UTC", "A2", "web", "Heartbeat", {}),
        line("ℹ️", "2025-10-24 12:07:00 UTC", "A2", "web", "Heartbeat", {}),
        line(
            "🐞", "2025-10-24 12:45:00 UTC", "A2", "web", "Race in cache", {"reasoning": "why; how"}
        ),
    ]
    broken = "[✅] [yesterday-ish] [Agent: A2] [Project: web] no real timestamp"
    web_lines = [
        *HEADER.format(name="web").splitlines(),
        lines["web"][0],
        lines["web"][1],
        only_web[0],
        only_web[1],
        only_web[2],
        # Same second, agent and message as a database row, differently rendered meta.
        "[⚠️] [2025-10-24 12:10:00 UTC] [Agent: Claude Code] [Project: web] Flaky test in CI | ticket=W-7",
        broken,
        lines["web"][3],  # the 🐛 row
        only_web[3],
        "",
        "Some prose an agent added by hand.",
    ]
    web_log.write_text("\n".join(web_lines) + "\n", encoding="utf-8")
    reg_log.write_text(
        "\n".join(
            [
                *HEADER.format(name="Scribe Registry Upgrade").splitlines(),
                *lines["Scribe Registry Upgrade"],
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    md_log.write_text(
        "\n".join(
            [
                *HEADER.format(name="notes").splitlines(),
                line(
                    "✅", "2025-12-01 08:00:00 UTC", "Gemini", "notes", "Notes started", {"k": "v"}
                ),
                # The older order: timestamp first.
                "[2025-12-01 08:05:00 UTC] [❌] [Agent: Gemini] [Project: notes] Lost the draft",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    state = root / ".scribe" / "state.json"
    state.write_text(
        json.dumps(
            {
                "current_project": "Scribe Registry Upgrade",
                "projects": {
                    "web": {"name": "web", "root": str(root), "progress_log": str(web_log)},
                    "Scribe Registry Upgrade": {
                        "name": "Scribe Registry Upgrade",
                        "root": str(root),
                    },
                    "notes": {
                        "name": "notes",
                        "root": str(root),
                        "progress_log": ".scribe/docs/dev_plans/notes/PROGRESS_LOG.md",
                    },
                },
                "recent_projects": ["Scribe Registry Upgrade", "web", "notes"],
            }
        ),
        encoding="utf-8",
    )
    header_lines = len(HEADER.format(name="web").splitlines())
    template_line = (
        HEADER.format(name="web")
        .splitlines()
        .index(next(x for x in HEADER.format(name="web").splitlines() if x.startswith("[EMOJI]")))
        + 1
    )
    return Expected(
        root=root,
        db=db,
        state=state,
        logs={"web": web_log, "Scribe-Registry-Upgrade": reg_log, "notes": md_log},
        entries={
            "web": [
                ("scribe-db", "Kickoff web build", "info"),
                ("scribe-db", "Bootstrapped skeleton", "success"),
                ("scribe-md", "Café déployé — 世界 🌍", "success"),
                ("scribe-md", "Heartbeat", "info"),
                ("scribe-md", "Heartbeat", "info"),
                ("scribe-db", "Flaky test in CI", "warn"),
                ("scribe-db", "Deploy failed", "error"),
                ("scribe-db", "Found off-by-one", "bug"),
                ("scribe-md", "Race in cache", "bug"),
            ],
            "Scribe-Registry-Upgrade": [
                ("scribe-db", "Investigating registry | read_recent", "info"),
                ("scribe-db", "Automated sweep ran", "info"),
            ],
            "notes": [
                ("scribe-md", "Notes started", "success"),
                ("scribe-md", "Lost the draft", "error"),
            ],
        },
        unparsable=[
            f"{web_log}:{template_line}",
            f"{web_log}:{header_lines + 7}",
            f"{reg_log}:{template_line}",
            f"{md_log}:{template_line}",
        ],
        rejected=[web_rows[5].id],
        db_ids={r.message: r.id for r in web_rows + reg_rows},
    )


def append_more(expected: Expected) -> str:
    """Scribe keeps working: one more line in the web log (for the incremental rerun test)."""
    new = line("✅", "2025-10-25 08:00:00 UTC", "A1", "web", "Shipped v1", {"tag": "v1"})
    with expected.logs["web"].open("a", encoding="utf-8") as f:
        f.write(new + "\n")
    return new
