"""Every setting is documented in docs/configuration.md, with the default the code uses."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from roundtable.config import Settings

DOC = Path(__file__).parent.parent / "docs" / "configuration.md"
ROW = re.compile(r"^\| `ROUNDTABLE_([A-Z_]+)` \| (.+?) \| (.+) \|$")


def documented() -> dict[str, str]:
    rows = {}
    for line in DOC.read_text().splitlines():
        match = ROW.match(line)
        if match:
            rows[match.group(1).lower()] = match.group(2).strip("`")
    return rows


def test_every_setting_is_documented_and_nothing_else() -> None:
    assert set(documented()) == set(Settings.model_fields)


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_documented_default_matches_code(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("ROUNDTABLE_"):
            monkeypatch.delenv(key)
    doc_default = documented()[name]
    value = getattr(Settings(), name)
    if name == "data_dir":
        assert doc_default.startswith("$XDG_DATA_HOME/roundtable")
    elif value is None:
        assert doc_default == "unset"
    elif isinstance(value, bool):
        assert doc_default == str(value).lower()
    elif isinstance(value, float):
        assert float(doc_default) == value
    else:
        assert doc_default == str(value)


def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUNDTABLE_PORT", "not-a-port")
    with pytest.raises(ValueError, match="port"):
        Settings()


def test_postgres_url_gets_the_async_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUNDTABLE_DATABASE_URL", "postgresql://u@h/db")
    assert Settings().effective_database_url == "postgresql+asyncpg://u@h/db"
    assert not Settings().is_sqlite


def test_data_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ROUNDTABLE_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert Settings().data_dir == tmp_path / "roundtable"
    assert Settings().effective_database_url.endswith(
        str(tmp_path / "roundtable" / "roundtable.db")
    )
