"""Reading blueprint files for `blueprint apply`: YAML, JSON, directories, and bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from roundtable.cli.agents import parse_params
from roundtable.client.blueprints import load
from roundtable.errors import InvalidInput


def test_yaml_stream_json_list_and_directory(tmp_path: Path) -> None:
    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "a.yaml").write_text(
        "name: lead\nexecutor: {kind: echo}\n---\nname: helper\ninstructions: help\n"
    )
    (tmp_path / "team" / "b.json").write_text(json.dumps([{"name": "critic"}]))
    (tmp_path / "team" / "notes.txt").write_text("ignored")
    loaded = load([tmp_path / "team"])
    assert [b.name for b in loaded] == ["lead", "helper", "critic"]
    assert loaded[0].source.endswith("a.yaml#1") and loaded[2].source.endswith("b.json")
    assert loaded[0].spec == {"name": "lead", "executor": {"kind": "echo"}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nflavour: mint\n", "unknown field(s) flavour"),
        ("description: nameless\n", "`name` is required"),
        ("- just\n- a list\n", "must be a mapping"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bp.yaml"
    path.write_text(text)
    with pytest.raises(InvalidInput) as caught:
        load([path])
    assert message in caught.value.message and str(path) in caught.value.message


def test_a_name_defined_twice_is_refused(tmp_path: Path) -> None:
    (tmp_path / "one.yml").write_text("name: same\n")
    (tmp_path / "two.json").write_text('{"name": "same"}')
    with pytest.raises(InvalidInput, match="defined twice"):
        load([tmp_path])


def test_missing_path_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such file"):
        load([tmp_path / "nope.yaml"])
    with pytest.raises(InvalidInput, match=r"no \.yaml"):
        load([tmp_path])


def test_parameters_from_the_command_line() -> None:
    params = parse_params(["n=3", "prompt=hello world", "flags=[1,2]"], '{"prompt": "x", "k": 1}')
    assert params == {"prompt": "hello world", "k": 1, "n": 3, "flags": [1, 2]}
    with pytest.raises(InvalidInput, match="KEY=VALUE"):
        parse_params(["novalue"], None)
    with pytest.raises(InvalidInput, match="JSON object"):
        parse_params([], "[1]")
