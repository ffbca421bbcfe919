"""Scribe imports of one installation started at the same time never duplicate entries.

Three real `roundtable import scribe` processes race on a 2,000-entry installation: while one
holds the namespace's import lease the others are refused with a conflict (exit 4) and write
nothing, and a rerun afterwards imports nothing new.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from roundtable.config import Settings
from roundtable.runtime import Roundtable
from tests.live import env_for, roundtable_exe
from tests.transfer import scribe_fixture

EXTRA = 2_000


def _source_ids(settings: Settings) -> Counter[str]:
    """How many times each Scribe `source_id` was imported, across the verified journals."""

    async def read() -> Counter[str]:
        seen: Counter[str] = Counter()
        async with Roundtable.open(settings, sweeper=False) as core:
            for project in await core.journal.list_projects("default"):
                assert (await core.journal.verify("default", project.name)).ok
                cursor: str | None = None
                while True:
                    page = await core.journal.read_recent(
                        "default", project.name, limit=100, cursor_=cursor
                    )
                    seen.update(
                        str(e.meta["source_id"]) for e in page.entries if e.kind == "scribe"
                    )
                    cursor = page.next_cursor
                    if cursor is None:
                        break
        return seen

    return asyncio.run(read())


@pytest.mark.slow
def test_concurrent_imports_never_duplicate(settings: Settings, tmp_path: Path) -> None:
    scribe = scribe_fixture.build(tmp_path / "scribe")
    with scribe.logs["web"].open("a", encoding="utf-8") as log:
        for n in range(EXTRA):
            log.write(
                scribe_fixture.line(
                    "✅", "2025-10-26 09:00:00 UTC", "A2", "web", f"step {n}", {"n": str(n)}
                )
                + "\n"
            )
    command = [roundtable_exe(), "import", "scribe", str(scribe.root)]
    procs = [
        subprocess.Popen(
            command, env=env_for(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    errs = [proc.communicate(timeout=300)[1].decode() for proc in procs]
    outcomes = [(proc.returncode, err) for proc, err in zip(procs, errs, strict=True)]
    codes = sorted(code for code, _ in outcomes)
    assert set(codes) <= {0, 4} and codes[0] == 0, outcomes
    for code, err in outcomes:
        if code == 4:
            assert "another Scribe import into namespace 'default' is running" in err

    seen = _source_ids(settings)
    assert sum(seen.values()) == 13 + EXTRA
    assert [sid for sid, n in seen.items() if n > 1] == []

    again = subprocess.run(command, env=env_for(settings), capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "total: imported 0 entries" in again.stdout
