"""The real CLI (in-process) for `import scribe`, `export` and `import jsonl`, on both backends."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from roundtable.cli.main import app
from roundtable.config import Settings
from roundtable.journal import checkpoints
from roundtable.journal.models import EntryInput
from roundtable.runtime import Roundtable
from tests.transfer import scribe_fixture


def cli(settings: Settings, *args: str) -> Result:
    env = {
        "ROUNDTABLE_DATA_DIR": str(settings.data_dir),
        "ROUNDTABLE_DATABASE_URL": settings.effective_database_url,
        "ROUNDTABLE_NAMESPACE": None,
        "COLUMNS": "200",
    }
    return CliRunner().invoke(app, list(args), env=env)


def sizes_and_verified(
    settings: Settings, namespace: str = "default"
) -> dict[str, tuple[int, bool]]:
    async def check() -> dict[str, tuple[int, bool]]:
        async with Roundtable.open(settings, sweeper=False) as core:
            return {
                p.name: (p.size, (await core.journal.verify(namespace, p.name)).ok)
                for p in await core.journal.list_projects(namespace)
            }

    return asyncio.run(check())


def test_import_scribe_cli(settings: Settings, tmp_path: Path) -> None:
    scribe = scribe_fixture.build(tmp_path / "scribe")
    dry = cli(settings, "import", "scribe", str(scribe.root), "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert "total: would import 13 entries" in dry.stdout
    assert sizes_and_verified(settings) == {}

    strict = cli(settings, "import", "scribe", str(scribe.root), "--strict")
    assert strict.exit_code == 2 and "invalid_input" in strict.stderr
    assert sizes_and_verified(settings) == {}

    first = cli(settings, "import", "scribe", str(scribe.root))
    assert first.exit_code == 0, first.stderr
    assert "total: imported 13 entries, already imported 0" in first.stdout
    assert "agent Scribe's current project: set to Scribe-Registry-Upgrade" in first.stdout
    for location in scribe.unparsable:
        assert f"skipped {location}: not a Scribe entry" in first.stderr
    assert "5 lines or rows were not imported" in first.stderr
    assert sizes_and_verified(settings) == {
        "web": (9, True),
        "Scribe-Registry-Upgrade": (2, True),
        "notes": (2, True),
    }

    again = cli(settings, "import", "scribe", str(scribe.root / ".scribe"), "--json")
    assert again.exit_code == 0, again.stderr
    report = json.loads(again.stdout)
    assert (report["imported"], report["already_imported"]) == (0, 13)
    assert report["context_changed"] is False and len(report["problems"]) == 5

    missing = cli(settings, "import", "scribe", str(tmp_path / "nowhere"))
    assert missing.exit_code == 2 and "does not exist" in missing.stderr


def test_export_then_import_jsonl_cli(settings: Settings, tmp_path: Path) -> None:
    async def fill() -> None:
        every_ten = settings.model_copy(update={"checkpoint_every_entries": 10})
        async with Roundtable.open(every_ten, sweeper=False) as core:
            await core.context.set("team", "alice", "web", create=True)
            await core.journal.append(
                "team", "alice", "web", [EntryInput(message=f"m{i}") for i in range(30)]
            )

    asyncio.run(fill())
    dump = tmp_path / "team.jsonl"
    exported = cli(settings, "export", "--namespace", "team", "-o", str(dump))
    assert exported.exit_code == 0, exported.stderr
    assert "exported namespace team" in exported.stderr and "30 entry" in exported.stderr
    assert json.loads(dump.read_text().splitlines()[0])["namespace"] == "team"
    to_stdout = cli(settings, "export", "-n", "team")
    assert to_stdout.exit_code == 0  # the same records (only the header's time differs)
    assert to_stdout.stdout.splitlines()[1:] == dump.read_text().splitlines()[1:]

    empty = cli(settings, "export", "-n", "nobody")
    assert empty.exit_code == 3 and "not_found" in empty.stderr
    assert not (tmp_path / "nobody.jsonl").exists()

    fresh = Settings(
        data_dir=tmp_path / "fresh", database_url=f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    )
    lines = dump.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if '"message":"m3"' in line)
    lines[index] = lines[index].replace('"m3"', '"m3 edited"')
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    refused = cli(fresh, "import", "jsonl", str(bad))
    assert refused.exit_code == 2 and f"line {index + 1}:" in refused.stderr
    assert sizes_and_verified(fresh, "team") == {}

    restored = cli(fresh, "import", "jsonl", str(dump), "--json")
    assert restored.exit_code == 0, restored.stderr
    result = json.loads(restored.stdout)
    assert result["entry"] == 30 and result["checkpoint"] >= 1
    kid = result["untrusted_signing_keys"][0]
    assert f"ROUNDTABLE_TRUSTED_KEYS={kid}" in restored.stderr
    # verify accepts the other server's checkpoints only once the operator trusts its key.
    assert sizes_and_verified(fresh, "team") == {"web": (30, False)}
    trusting = fresh.model_copy(update={"trusted_keys": kid})
    assert sizes_and_verified(trusting, "team") == {"web": (30, True)}
    assert f"roundtable keys trust {kid}" in restored.stderr
    bad_kid = cli(fresh, "keys", "trust", "not-a-kid")
    assert bad_kid.exit_code == 2 and "is not a key id" in bad_kid.stderr
    trusted = cli(fresh, "keys", "trust", kid)
    assert trusted.exit_code == 0, trusted.stderr
    assert (fresh.data_dir / "keys" / "trusted").stat().st_mode & 0o777 == 0o600
    assert sizes_and_verified(fresh, "team") == {"web": (30, True)}

    twice = cli(fresh, "import", "jsonl", str(dump))
    assert twice.exit_code == 4 and "conflict" in twice.stderr
    renamed = cli(fresh, "import", "jsonl", str(dump), "--namespace", "other")
    assert renamed.exit_code == 2 and "cannot be imported as 'other'" in renamed.stderr


def test_import_jsonl_trust_keys(settings: Settings, tmp_path: Path) -> None:
    async def fill() -> None:
        async with Roundtable.open(settings, sweeper=False) as core:
            await core.context.set("team", "alice", "web", create=True)
            await core.journal.append("team", "alice", "web", [EntryInput(message="one")])
            await checkpoints.sign_now(core.db, core.signer, settings, "team", "web")

    asyncio.run(fill())
    dump = tmp_path / "team.jsonl"
    assert cli(settings, "export", "-n", "team", "-o", str(dump)).exit_code == 0
    fresh = Settings(
        data_dir=tmp_path / "fresh", database_url=f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    )
    restored = cli(fresh, "import", "jsonl", str(dump), "--trust-keys", "--json")
    assert restored.exit_code == 0, restored.stderr
    assert json.loads(restored.stdout)["untrusted_signing_keys"] == []
    assert "trusting the exporting server's key" in restored.stderr
    assert sizes_and_verified(fresh, "team") == {"web": (1, True)}


@pytest.mark.parametrize("path", ["missing.jsonl"])
def test_import_jsonl_missing_file(settings: Settings, tmp_path: Path, path: str) -> None:
    result = cli(settings, "import", "jsonl", str(tmp_path / path))
    assert result.exit_code == 2 and "cannot read" in result.stderr
