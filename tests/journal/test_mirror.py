"""The Markdown mirror (D5) on both backends: exact line format, header, rotation with the
segments, regeneration, recovery from a damaged file, failures that never fail the append,
and the path rules that keep the server's writes confined."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from roundtable.errors import ConflictError, InvalidInput
from roundtable.journal.mirror import CHECKPOINT_WIDTH, entry_line
from roundtable.journal.mirror_service import check_path
from roundtable.journal.models import EntryInput, Status
from roundtable.runtime import Roundtable

NS = "default"


def test_line_format_is_scribes() -> None:
    ts = datetime(2026, 1, 5, 12, 0, 0, 123456, tzinfo=UTC)
    line = entry_line(
        status="success",
        ts=ts,
        agent="A1",
        project="web",
        message="message",
        meta={"k": "v", "k2": "v2"},
    )
    assert line == "[✅] [2026-01-05 12:00:00 UTC] [Agent: A1] [Project: web] message | k=v; k2=v2"
    bare = entry_line(status="bug", ts=ts, agent="A1", project="web", message="a\nb", meta={})
    assert bare == "[🐞] [2026-01-05 12:00:00 UTC] [Agent: A1] [Project: web] a\\nb"
    typed = entry_line(
        status="warn",
        ts=ts,
        agent="x",
        project="p",
        message="m",
        meta={"z": [1, "a"], "b": True, "n": None, "f": 1.5, "o": {"y": 1, "x": 2}},
    )
    assert typed.endswith(' m | b=true; f=1.5; n=null; o={"x":2,"y":1}; z=[1,"a"]')


def entries_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.startswith("[")]


async def test_mirror_follows_appends_and_rotation(core: Roundtable) -> None:
    await core.journal.create_project(NS, "alice", "web")
    await core.journal.append(NS, "alice", "web", [EntryInput(message="before the mirror")])
    info = await core.mirrors.set_mirror(NS, "web", "team/web.md")
    path = core.settings.data_dir / "mirrors" / "team" / "web.md"
    assert info.file == str(path) and info.lines == 1
    await core.journal.append(
        NS, "A1", "web", [EntryInput(message="message", status=Status.SUCCESS, meta={"k": "v"})]
    )
    text = path.read_text()
    assert text.startswith("# Journal default/web\n\nSegment 1, entries from seq 1.")
    header_line = next(line for line in text.splitlines() if line.startswith("Latest checkpoint"))
    assert len(header_line) == CHECKPOINT_WIDTH
    lines = entries_lines(path)
    assert lines[0].endswith("[Agent: alice] [Project: web] before the mirror")
    assert lines[1].endswith("[Agent: A1] [Project: web] message | k=v")
    assert lines[1].startswith("[✅] [")

    result = await core.rotation.rotate(NS, "web")
    text = path.read_text()
    assert "Segment 2, entries from seq 3." in text
    assert f"Latest checkpoint: size {result.rotation_seq}, root " in text
    assert len(entries_lines(path)) == 1  # just the rotation entry
    md = (core.settings.data_dir / result.markdown).read_text()
    assert "before the mirror" in md and "message | k=v" in md

    await core.journal.append(NS, "A1", "web", [EntryInput(message="after")])
    before = path.read_bytes()
    other = core.settings.data_dir / "out.md"
    await core.mirrors.render(NS, "web", other)
    assert other.read_bytes() == before
    await core.mirrors.render(NS, "web", None)
    assert path.read_bytes() == before


async def test_damaged_mirror_is_repaired(core: Roundtable) -> None:
    await core.journal.create_project(NS, "alice", "web")
    await core.mirrors.set_mirror(NS, "web", "web.md")
    path = core.settings.data_dir / "mirrors" / "web.md"
    for i in range(3):
        await core.journal.append(NS, "alice", "web", [EntryInput(message=f"m{i}")])
    good = path.read_bytes()
    with path.open("ab") as handle:  # a sync that died before saving its sidecar
        handle.write(b"[half a line")
    await core.journal.append(NS, "alice", "web", [EntryInput(message="m3")])
    assert [line.split("] ")[-1] for line in entries_lines(path)] == ["m0", "m1", "m2", "m3"]
    path.write_text("truncated")  # shorter than recorded: regenerate
    await core.journal.append(NS, "alice", "web", [EntryInput(message="m4")])
    assert len(entries_lines(path)) == 5
    assert path.read_bytes().startswith(good[:100])


async def test_mirror_failure_never_fails_the_append(
    core: Roundtable, caplog: pytest.LogCaptureFixture
) -> None:
    await core.journal.create_project(NS, "alice", "web")
    await core.mirrors.set_mirror(NS, "web", "blocked/web.md")
    directory = core.settings.data_dir / "mirrors" / "blocked"
    for child in directory.iterdir():
        child.unlink()
    directory.rmdir()
    directory.write_text("a file where the mirror's directory should be")
    result = await core.journal.append(NS, "alice", "web", [EntryInput(message="kept")])
    assert result.last_seq == 1
    assert any(
        r.levelname == "ERROR" and "could not be written" in r.getMessage() for r in caplog.records
    )
    directory.unlink()
    await core.journal.append(NS, "alice", "web", [EntryInput(message="second")])
    lines = entries_lines(directory / "web.md")
    assert [line.split("] ")[-1] for line in lines] == ["kept", "second"]  # retried


async def test_mirror_paths_are_confined(core: Roundtable, tmp_path: Path) -> None:
    settings = core.settings
    for bad in [
        "../escape.md",
        "a/../../b.md",
        "x.txt",
        "",
        "~/x.md",
        "/etc/x.md",
        ".hidden/../../x.md",
    ]:
        with pytest.raises(InvalidInput):
            check_path(settings, bad)
    assert check_path(settings, "team/web.md") == "team/web.md"
    allowed = settings.model_copy(update={"mirror_allow_absolute": True})
    assert check_path(allowed, str(tmp_path / "elsewhere.md")) == str(tmp_path / "elsewhere.md")
    with pytest.raises(InvalidInput, match="under DATA_DIR/mirrors"):
        check_path(allowed, str(settings.data_dir / "keys" / "x.md"))
    await core.journal.create_project(NS, "alice", "a")
    await core.journal.create_project(NS, "alice", "b")
    await core.mirrors.set_mirror(NS, "a", "shared.md")
    with pytest.raises(ConflictError):
        await core.mirrors.set_mirror(NS, "b", "shared.md")
    cleared = await core.mirrors.set_mirror(NS, "a", None)
    assert cleared.path is None
    await core.mirrors.set_mirror(NS, "b", "shared.md")
    with pytest.raises(InvalidInput, match="no mirror"):
        await core.mirrors.render(NS, "a", None)
    assert (settings.data_dir / "mirrors" / "shared.md").exists()
