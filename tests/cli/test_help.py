"""The help a newcomer reads: every command's `--help` at 80 columns, and `--version`."""

from __future__ import annotations

import re
from collections.abc import Iterator

import typer
from typer.testing import CliRunner

import roundtable
from roundtable.cli.main import app


def command_paths() -> Iterator[list[str]]:
    """Every command and group, as the argument lists that name them."""

    def walk(command: object, path: list[str]) -> Iterator[list[str]]:
        yield path
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield from walk(sub, [*path, name])

    yield from walk(typer.main.get_command(app), [])


def help_text(path: list[str]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, (path, result.output)
    return result.stdout


def test_every_help_reads_conventionally_at_80_columns() -> None:
    paths = list(command_paths())
    assert len(paths) > 30  # the walk found the whole tree
    for path in paths:
        text = help_text(path)
        assert "<bool>" not in text and "<list[" not in text, path  # no type noise
        usage = next(line for line in text.splitlines() if "Usage:" in line)
        assert "{" not in usage, (path, usage)  # PROJECT, not {project}
        assert max(len(line) for line in text.splitlines()) <= 80, path


def test_help_names_the_settings_behind_defaults() -> None:
    serve = help_text(["serve"])
    assert "ROUNDTABLE_HOST" in serve and "ROUNDTABLE_PORT" in serve
    ttl = " ".join(help_text(["token", "create"]).split())
    assert "ROUNDTABLE_TOKEN_DEFAULT_TTL_SECONDS" in ttl and "3600 s" in ttl
    assert "token_default_ttl" not in ttl.replace("TOKEN_DEFAULT_TTL", "")
    assert "Usage: roundtable verify [OPTIONS] [PROJECT]..." in help_text(["verify"])


def test_version() -> None:
    for flag in ("--version", "-V"):
        result = CliRunner().invoke(app, [flag])
        assert result.exit_code == 0
        assert result.stdout == f"roundtable {roundtable.__version__}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+(\.dev\d+)?", roundtable.__version__)
