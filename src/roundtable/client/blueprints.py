"""Blueprint files: agent definitions kept in git as YAML or JSON, read for `blueprint apply`.

A file holds one blueprint, or several (a YAML stream of `---` documents, or a JSON list). A
directory means every `*.yaml`, `*.yml` and `*.json` below it, in path order. Everything is read
and checked before anything is sent, so a typo in the tenth file does not leave nine applied.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from roundtable.errors import InvalidInput

#: The fields of a blueprint spec (the server refuses others; checked here to name the file).
FIELDS = frozenset(
    {
        "name",
        "description",
        "instructions",
        "executor",
        "parameters_schema",
        "output_schema",
        "output_retries",
        "mcp_servers",
        "tags",
        "demands",
        "on_parent_exit",
        "limits",
        "status",
    }
)
SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class BlueprintFile:
    """One blueprint spec and where it came from (`path#n` for the n-th of a file)."""

    source: str
    spec: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.spec["name"])


def _documents(path: Path) -> list[Any]:
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".json":
            data = json.loads(text)
            return data if isinstance(data, list) else [data]
        return [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except (ValueError, yaml.YAMLError) as exc:
        raise InvalidInput(
            f"{path}: not valid {path.suffix[1:].upper()}: {exc}", file=str(path)
        ) from None


def _check(source: str, doc: Any) -> BlueprintFile:
    if not isinstance(doc, dict):
        raise InvalidInput(f"{source}: a blueprint must be a mapping", file=source)
    unknown = sorted(str(key) for key in doc if key not in FIELDS)
    if unknown:
        raise InvalidInput(
            f"{source}: unknown field(s) {', '.join(unknown)}", file=source, fields=unknown
        )
    if not isinstance(doc.get("name"), str) or not doc["name"]:
        raise InvalidInput(f"{source}: `name` is required", file=source)
    return BlueprintFile(source=source, spec=doc)


def files_under(path: Path) -> list[Path]:
    """The blueprint files `path` names: itself, or the YAML/JSON files below a directory."""
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
        if not found:
            raise InvalidInput(f"{path}: no .yaml, .yml or .json files", file=str(path))
        return found
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file or directory", file=str(path))
    return [path]


def load(paths: list[Path]) -> list[BlueprintFile]:
    """Every blueprint in `paths`, checked; a name defined twice is an error."""
    loaded: list[BlueprintFile] = []
    seen: dict[str, str] = {}
    for path in paths:
        for file in files_under(path):
            docs = _documents(file)
            for n, doc in enumerate(docs, 1):
                source = f"{file}#{n}" if len(docs) > 1 else str(file)
                blueprint = _check(source, doc)
                if blueprint.name in seen:
                    raise InvalidInput(
                        f"blueprint {blueprint.name!r} is defined twice: "
                        f"{seen[blueprint.name]} and {source}",
                        name=blueprint.name,
                    )
                seen[blueprint.name] = source
                loaded.append(blueprint)
    return loaded
