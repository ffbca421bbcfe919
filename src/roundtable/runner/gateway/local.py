"""Runner-local MCP servers (D11): entries only this machine knows, from a YAML or JSON file
(a list of registry entries, same fields as `roundtable mcp-server add`). A registry entry of
the same name wins."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from roundtable.errors import InvalidInput
from roundtable.orchestration.mcp_models import McpServerSpec


def load_local_servers(path: str | None) -> dict[str, dict[str, Any]]:
    if not path:
        return {}
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
        data = yaml.safe_load(text) if file.suffix in (".yaml", ".yml") else json.loads(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise InvalidInput(f"cannot read MCP servers file {path}: {exc}") from None
    if not isinstance(data, list):
        raise InvalidInput(f"MCP servers file {path} must hold a list of entries")
    found: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(data):
        try:
            spec = McpServerSpec.model_validate(item)
        except ValidationError as exc:
            raise InvalidInput(f"{path}#{index + 1}: {exc.errors()[0]['msg']}") from None
        found[spec.name] = spec.model_dump(mode="json")
    return found
