"""The tool list is in every agent's context (D17): it stays under budget and loses nothing.

The budget covers the journal, session and event tools by name, so tools added for other areas
(orchestration, documents) get budgets of their own instead of eating into this one.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from mcp.server import MCPServer
from pydantic import ValidationError

from roundtable.config import MCP_TOOL_GROUPS, Settings
from roundtable.mcp.common import CoreHandle, McpState
from roundtable.mcp.server import RoundtableMCP, build_server

#: The tools of issue 14's time and their budget for `tools/list`, in bytes of compact JSON.
CORE_TOOLS = frozenset(
    {
        "start_session",
        "heartbeat",
        "end_session",
        "set_project",
        "get_project",
        "list_projects",
        "append_entry",
        "read_recent",
        "query_entries",
        "verify_journal",
        "rotate_journal",
        "get_proof",
        "wait_for_events",
    }
)
BUDGET_BYTES = 12 * 1024


async def _no_core(_: MCPServer[McpState]) -> AsyncIterator[McpState]:
    yield McpState(handle=CoreHandle(), transport="stdio")


def _wire(tool: Any) -> dict[str, Any]:
    """A tool as `tools/list` sends it."""
    wire: dict[str, Any] = tool.model_dump(by_alias=True, mode="json", exclude_none=True)
    return wire


async def _listed() -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    server = build_server(_no_core)
    assert isinstance(server, RoundtableMCP)
    lean = {tool.name: _wire(tool) for tool in await server.list_tools()}
    full = {tool.name: _wire(tool) for tool in await super(RoundtableMCP, server).list_tools()}
    return lean, full


async def test_core_tools_fit_the_budget() -> None:
    lean, _ = await _listed()
    assert set(lean) >= CORE_TOOLS, CORE_TOOLS - set(lean)
    tools = [lean[name] for name in sorted(CORE_TOOLS)]
    size = len(json.dumps({"tools": tools}, separators=(",", ":")))
    assert size < BUDGET_BYTES, f"tools/list for the core tools is {size} bytes"
    for tool in tools:
        assert "\n" not in tool["description"] and "  " not in tool["description"], tool["name"]


async def test_lean_schemas_keep_every_parameter_and_stay_valid() -> None:
    lean, full = await _listed()
    assert set(lean) == set(full)
    for name, tool in lean.items():
        before, after = full[name]["inputSchema"], tool["inputSchema"]
        assert set(after["properties"]) == set(before["properties"]), name
        assert after.get("required", []) == before.get("required", []), name
        assert set(after.get("$defs", {})) == set(before.get("$defs", {})), name
        jsonschema.Draft202012Validator.check_schema(after)
        output = tool.get("outputSchema")
        if output is not None:
            jsonschema.Draft202012Validator.check_schema(output)
            assert set(output["properties"]) == set(full[name]["outputSchema"]["properties"])
            # No `$ref` indirection: a client validates every answer against this (issue 16).
            assert "$ref" not in json.dumps(output) and "$defs" not in output, name


def test_lean_schema_rewrites_without_changing_what_is_accepted() -> None:
    from roundtable.mcp.lean import lean_schema, shallow_output

    schema = {
        "type": "object",
        "title": "Args",
        "description": "A model docstring.",
        "properties": {
            "title": {"title": "Title", "type": "string"},  # a field called title survives
            "maybe": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None},
            "level": {
                "anyOf": [{"enum": ["a", "b"], "type": "string"}, {"type": "null"}],
                "default": None,
            },
            "scalar": {"anyOf": [{"type": "string"}, {"type": "boolean"}]},
        },
    }
    inputs = lean_schema(schema, inputs=True)
    assert inputs == {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "maybe": {"type": "integer"},
            "level": {"enum": ["a", "b"], "type": "string"},
            "scalar": {"type": ["string", "boolean"]},
        },
    }
    outputs = lean_schema(schema, inputs=False)
    validator = jsonschema.Draft202012Validator(outputs)
    validator.validate({"title": "t", "maybe": None, "level": None, "scalar": True})
    validator.validate({"title": "t", "maybe": 3, "level": "a", "scalar": "s"})
    assert not validator.is_valid({"level": "c"})
    nested = {
        "type": "object",
        "properties": {
            "inner": {"anyOf": [{"$ref": "#/$defs/Inner"}, {"type": "null"}]},
            "items": {"type": "array", "items": {"$ref": "#/$defs/Inner"}},
        },
        "required": ["items"],
        "$defs": {"Inner": {"type": "object", "properties": {"x": {"type": "integer"}}}},
    }
    assert shallow_output(nested) == {
        "type": "object",
        "properties": {
            "inner": {"type": ["object", "null"]},
            "items": {"type": "array", "items": {"type": "object"}},
        },
    }


async def test_tools_registered_elsewhere_are_listed_in_one_paragraph() -> None:
    server = build_server(_no_core)

    @server.tool()
    async def another_area_tool(x: int) -> int:
        """First line of a docstring
        that goes on, indented as code is."""
        return x

    listed = {tool.name: tool for tool in await server.list_tools()}
    assert listed["another_area_tool"].description == (
        "First line of a docstring that goes on, indented as code is."
    )


async def test_tool_groups_choose_what_is_listed() -> None:
    """`ROUNDTABLE_MCP_TOOLS`: the session tools always, then only the groups asked for."""
    only_journal = build_server(_no_core, groups={"journal"})
    names = {tool.name for tool in await only_journal.list_tools()}
    assert {"start_session", "end_session", "append_entry", "read_recent"} <= names
    assert not names & {"start_agent_session", "put_document", "get_schema", "wait_for_events"}
    everything = {tool.name for tool in await build_server(_no_core).list_tools()}
    assert {"start_agent_session", "put_document", "get_schema", "wait_for_events"} <= everything


def test_unknown_tool_groups_are_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="unknown tool group"):
        Settings(data_dir=tmp_path, mcp_tools="journal,orchestrashun")
    settings = Settings(data_dir=tmp_path, mcp_tools="documents, journal")
    assert settings.mcp_tool_groups == {"documents", "journal"}
    assert Settings(data_dir=tmp_path).mcp_tool_groups == set(MCP_TOOL_GROUPS)
