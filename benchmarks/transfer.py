"""Scribe import and JSONL export/restore throughput, through the service layer.

Builds a synthetic Scribe installation (`--entries` rows in `data/scribe_projects.db` across
`--projects` projects, every row's line in its PROGRESS_LOG.md plus 10% log-only lines; agents
change every `--run` entries, so appends batch per run of one agent), then measures:

- scribe_import: `import_scribe` from disk to a committed, chained, checkpointed journal;
- scribe_rerun: the same import again (nothing new: the idempotency check alone);
- export: `export_namespace` of the result to a file;
- restore: `restore` of that file into a fresh database (one transaction, every hash checked,
  the Merkle tree rebuilt), then verify of every project.

Prints one JSON object.

    python benchmarks/transfer.py [--entries 20000] [--projects 4] [--run 50]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sqlite3
import time
from pathlib import Path

from benchlib import (
    add_common_args,
    backend_of,
    emit,
    log,
    machine_info,
    rounded,
    scratch_database,
    temp_data_dir,
    wait_quiet,
)
from roundtable.config import Settings
from roundtable.runtime import Roundtable
from roundtable.transfer.export import export_namespace
from roundtable.transfer.restore import restore
from roundtable.transfer.scribe_import import import_scribe
from roundtable.transfer.scribe_source import read_installation

EMOJI = ["ℹ️", "✅", "⚠️", "❌", "🐞", "🧭"]


def build_scribe(root: Path, entries: int, projects: int, run: int) -> None:
    db = root / "data" / "scribe_projects.db"
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    conn.executescript(
        "CREATE TABLE scribe_projects (id INTEGER PRIMARY KEY, name TEXT UNIQUE, "
        "repo_root TEXT, progress_log_path TEXT, created_at TEXT);"
        "CREATE TABLE scribe_entries (id TEXT PRIMARY KEY, project_id INTEGER, ts TEXT, "
        "ts_iso TEXT, emoji TEXT, agent TEXT, message TEXT, meta TEXT, raw_line TEXT, "
        "sha256 TEXT, created_at TEXT);"
    )
    logs: dict[int, list[str]] = {p: [] for p in range(1, projects + 1)}
    for p in range(1, projects + 1):
        log_path = f".scribe/docs/dev_plans/p{p}/PROGRESS_LOG.md"
        conn.execute(
            "INSERT INTO scribe_projects VALUES (?, ?, ?, ?, ?)",
            (p, f"project {p}", str(root), log_path, "2025-10-01 00:00:00"),
        )
    rows = []
    for i in range(entries):
        p = i % projects + 1
        ts = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(1_760_000_000 + i))
        agent = f"agent-{(i // run) % 5}"
        message = f"step {i}: refactored module {i % 97} and ran the tests"
        meta = {"phase": str(i % 7), "ticket": f"T-{i}"}
        emoji = EMOJI[i % len(EMOJI)]
        line = f"[{emoji}] [{ts}] [Agent: {agent}] [Project: project {p}] {message} | " + "; ".join(
            f"{k}={v}" for k, v in sorted(meta.items())
        )
        rows.append(
            (
                f"id-{i}", p, ts, ts.replace(" UTC", "+00:00"), emoji, agent, message,
                json.dumps(meta), line, hashlib.sha256(line.encode()).hexdigest(), ts,
            )
        )  # fmt: skip
        logs[p].append(line)
        if i % 10 == 0:  # a line only in the log
            logs[p].append(line.replace(message, message + " (log only)"))
    conn.executemany("INSERT INTO scribe_entries VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.commit()
    conn.close()
    for p, lines in logs.items():
        path = root / ".scribe" / "docs" / "dev_plans" / f"p{p}" / "PROGRESS_LOG.md"
        path.parent.mkdir(parents=True)
        path.write_text("# Progress Log\n\n" + "\n".join(lines) + "\n", encoding="utf-8")
    (root / ".scribe" / "state.json").write_text(json.dumps({"current_project": "project 1"}))


async def main(args: argparse.Namespace) -> None:
    if args.wait_quiet:
        wait_quiet(args.wait_quiet)
    result: dict[str, object] = {
        "benchmark": "transfer",
        "backend": backend_of(args.database_url),
        "machine": machine_info(),
        "params": {"entries": args.entries, "projects": args.projects, "run": args.run},
    }
    with temp_data_dir("transfer", args.keep) as tmp:
        build_scribe(tmp / "scribe", args.entries, args.projects, args.run)
        async with (
            scratch_database(args.database_url) as url,
            scratch_database(args.database_url) as url2,
        ):
            settings = Settings(data_dir=tmp / "data", database_url=url)
            async with Roundtable.open(settings, sweeper=False) as core:
                t0 = time.perf_counter()
                install = read_installation(tmp / "scribe")
                report = await import_scribe(core, install, "default")
                t1 = time.perf_counter()
                again = await import_scribe(core, read_installation(tmp / "scribe"), "default")
                t2 = time.perf_counter()
                log(f"imported {report.imported} Scribe entries in {t1 - t0:.2f}s")
                kid = core.keyring.current.kid
                dump = tmp / "export.jsonl"
                with open(dump, "w", encoding="utf-8") as handle:  # noqa: ASYNC230
                    t3 = time.perf_counter()
                    counts = await export_namespace(core, "default", handle.write)
                    t4 = time.perf_counter()
            fresh = Settings(
                data_dir=tmp / "fresh",
                database_url=url2 if url2 else f"sqlite+aiosqlite:///{tmp / 'fresh.db'}",
                trusted_keys=kid,  # the exporting server's checkpoints (see docs/import-export.md)
            )
            async with Roundtable.open(fresh, sweeper=False) as other:
                with open(dump, encoding="utf-8") as handle:  # noqa: ASYNC230
                    t5 = time.perf_counter()
                    done = await restore(other, handle)
                    t6 = time.perf_counter()
                t7 = time.perf_counter()
                reports = [
                    await other.journal.verify("default", p.name)
                    for p in await other.journal.list_projects("default")
                ]
                t8 = time.perf_counter()
            size = dump.stat().st_size
    n = report.imported
    result["scribe_import"] = {
        "entries": n,
        "seconds": rounded(t1 - t0),
        "entries_per_s": rounded(n / (t1 - t0), 1),
        "problems": len(report.problems),
    }
    result["scribe_rerun"] = {"imported": again.imported, "seconds": rounded(t2 - t1)}
    result["export"] = {
        "entries": counts.get("entry", 0),
        "bytes": size,
        "seconds": rounded(t4 - t3),
        "entries_per_s": rounded(counts.get("entry", 0) / (t4 - t3), 1),
    }
    result["restore"] = {
        "entries": done.counts.get("entry", 0),
        "seconds": rounded(t6 - t5),
        "entries_per_s": rounded(done.counts.get("entry", 0) / (t6 - t5), 1),
    }
    result["verify_after_restore"] = {
        "all_ok": all(r.ok for r in reports),
        "seconds": rounded(t8 - t7),
    }
    emit(result)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--projects", type=int, default=4)
    parser.add_argument("--run", type=int, default=50, help="entries per run of one agent")
    add_common_args(parser)
    asyncio.run(main(parser.parse_args()))
