"""A bad setting stops a command with one line naming the variable, not pydantic's dump."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from roundtable.cli.main import app


def run(tmp_path: Path, *args: str, **env: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, list(args), env={"ROUNDTABLE_DATA_DIR": str(tmp_path), "COLUMNS": "80", **env}
    )
    return result.exit_code, result.stderr


def test_a_bad_variable_is_named(tmp_path: Path) -> None:
    code, stderr = run(tmp_path, "serve", ROUNDTABLE_PORT="abc")
    assert code == 2
    assert stderr.startswith("configuration error: ROUNDTABLE_PORT: ")
    assert "'abc'" in stderr
    assert "pydantic" not in stderr and "validation error" not in stderr
    assert len(stderr.splitlines()) == 1


def test_every_bad_setting_gets_its_line_and_options_are_named(tmp_path: Path) -> None:
    code, stderr = run(
        tmp_path,
        "serve",
        "--port",
        "0",
        ROUNDTABLE_SQLITE_SYNCHRONOUS="sometimes",
    )
    assert code == 2
    lines = stderr.splitlines()
    assert len(lines) == 2, stderr
    assert any(line.startswith("configuration error: --port (ROUNDTABLE_PORT): ") for line in lines)
    assert any("ROUNDTABLE_SQLITE_SYNCHRONOUS" in line and "'sometimes'" in line for line in lines)
    assert not (tmp_path / "roundtable.db").exists()  # nothing started


def test_client_commands_check_settings_too(tmp_path: Path) -> None:
    code, stderr = run(tmp_path, "session", "list", ROUNDTABLE_SESSION_TTL_SECONDS="-1")
    assert code == 2 and "ROUNDTABLE_SESSION_TTL_SECONDS" in stderr
