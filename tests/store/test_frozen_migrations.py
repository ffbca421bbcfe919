"""Migrations are frozen: they import no live service code (docs/decisions.md, "frozen migrations").

Every module under `store/migrations/versions/` and `store/migrations/frozen/` is parsed with
`ast`, imports nested in functions included, and any `roundtable.*` import outside the allowlist
fails the test. Frozen helpers may import no `roundtable` module at all.
"""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import pytest

from roundtable.journal import hashing, merkle
from roundtable.store.migrations.frozen import journal_v1

MIGRATIONS = Path(__file__).parents[2] / "src" / "roundtable" / "store" / "migrations"
#: What a migration may import from the project: column types, and its own frozen helpers.
ALLOWED = ("roundtable.store.types", "roundtable.store.migrations.frozen")


def _roundtable_imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names += [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append(f"<relative import in {path.name}>")
    return [n for n in names if n.split(".")[0] == "roundtable" or n.startswith("<")]


def _allowed(name: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in ALLOWED)


@pytest.mark.parametrize(
    "path", sorted((MIGRATIONS / "versions").glob("*.py")), ids=lambda p: p.name
)
def test_migration_imports_only_frozen_code(path: Path) -> None:
    assert [n for n in _roundtable_imports(path) if not _allowed(n)] == []


@pytest.mark.parametrize("path", sorted((MIGRATIONS / "frozen").glob("*.py")), ids=lambda p: p.name)
def test_frozen_helper_imports_nothing_from_roundtable(path: Path) -> None:
    assert _roundtable_imports(path) == []


def test_the_checker_sees_imports_nested_in_functions(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "def f():\n    from roundtable.journal import merkle\n    import roundtable.x\n"
    )
    assert _roundtable_imports(module) == ["roundtable.journal.merkle", "roundtable.x"]


def test_journal_v1_still_matches_live_format_1() -> None:
    """The copy was exact; if the live format ever moves on, this test is the place to say so."""
    assert hashing.FORMAT_VERSION == journal_v1.FORMAT_VERSION == 1
    fields = {
        "namespace": "default",
        "project": "p",
        "seq": 3,
        "ts": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        "agent": "a",
        "session_id": None,
        "status": "info",
        "kind": "progress",
        "message": "héllo",
        "meta": {"b": 1.5, "a": [1, "x"]},
        "prev_hash": hashing.GENESIS,
    }
    canonical = journal_v1.canonical_entry(**fields)  # type: ignore[arg-type]
    assert canonical == hashing.canonical_entry(**fields)  # type: ignore[arg-type]
    leaves = [journal_v1.leaf_hash(canonical + bytes([i])) for i in range(11)]
    assert leaves == [merkle.leaf_hash(canonical + bytes([i])) for i in range(11)]
    assert journal_v1.append_leaves([], 0, leaves) == merkle.append_leaves([], 0, leaves)
