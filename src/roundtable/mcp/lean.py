"""A lean `tools/list`: the same schemas with what only costs the model tokens taken out.

The tool list is part of every agent's context in every session (D17), so the JSON Schemas
pydantic generates are rewritten without changing what they accept:

- `title` keywords go (pydantic derives them from the field names the schema already has);
- `additionalProperties: true` goes (it is the default);
- a model's own docstring (`description` next to `properties`) goes; field descriptions stay;
- an optional input `X | None = None` is listed as plain `X`, not required (omit it for the
  default; the server still accepts an explicit null), and its `default: null` goes;
- in output schemas `anyOf: [X, null]` of a simple type becomes `type: [X, "null"]`, and an
  `anyOf` of plain types becomes one `type` list;
- nested models and enums (`$defs`) lose their descriptions and their fields': the tool's own
  parameters of the same names carry them.

Output schemas are cut further (`shallow_output`): every field of the result with its JSON
type and whether it may be null; nested objects are just `object`, and `required`, `format`
and enums go. They exist for clients that check `structuredContent` against them (the
TypeScript SDK does); the model reads the JSON text, and docs/mcp.md gives the full shapes.
"""

from __future__ import annotations

from typing import Any

# Keywords whose value maps names to schemas (a property may be called `title`).
_SCHEMA_MAPS = frozenset({"properties", "$defs", "definitions", "patternProperties"})
_NULL = {"type": "null"}


def lean_schema(schema: dict[str, Any], *, inputs: bool) -> dict[str, Any]:
    """`schema` rewritten as described in the module docstring."""
    result = _lean(schema, inputs)
    assert isinstance(result, dict)
    return result


def shallow_output(schema: dict[str, Any]) -> dict[str, Any]:
    """A lean output schema whose nested objects are only typed `object` (see module doc)."""
    defs: dict[str, Any] = schema.get("$defs", {})

    def shallow(node: Any, depth: int) -> Any:
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            target = defs.get(ref.removeprefix("#/$defs/"), {})
            return {"type": target.get("type", "object")}
        if depth > 0 and node.get("type") == "object":
            return {"type": "object"}
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("$defs", "description", "default", "required", "format", "enum"):
                continue
            if key == "properties":
                out[key] = {name: shallow(sub, depth + 1) for name, sub in value.items()}
            elif key in ("items", "additionalProperties") and isinstance(value, dict):
                out[key] = shallow(value, depth + 1)
            elif key == "anyOf":
                out[key] = [shallow(option, depth) for option in value]
            else:
                out[key] = value
        return out

    return lean_schema(shallow(schema, 0), inputs=False)


def _lean(node: Any, inputs: bool) -> Any:
    if isinstance(node, list):
        return [_lean(item, inputs) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" or (key == "additionalProperties" and value is True):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _lean(sub, inputs) for name, sub in value.items()}
        else:
            out[key] = _lean(value, inputs)
    if "properties" in out and "description" in out and "type" in out:
        del out["description"]  # a model docstring, written for code readers
    if "$defs" in out:  # the tool's own parameters say what nested fields mean
        for sub in out["$defs"].values():
            sub.pop("description", None)
            for field in sub.get("properties", {}).values():
                field.pop("description", None)
    options = out.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and _NULL in options:
        other = options[0] if options[1] == _NULL else options[1]
        if inputs and out.get("default", 0) is None:
            del out["anyOf"], out["default"]
            out = {**other, **out}
        elif isinstance(other.get("type"), str) and "$ref" not in other:
            del out["anyOf"]
            out = {**other, **out, "type": [other["type"], "null"]}
            if "enum" in other:
                out["enum"] = [*other["enum"], None]
    options = out.get("anyOf")
    if isinstance(options, list) and all(
        set(o) == {"type"} and isinstance(o["type"], str) for o in options
    ):
        del out["anyOf"]
        out["type"] = [o["type"] for o in options]
    return out
