"""Run parameters checked at the server against the blueprint's JSON Schema (Draft 2020-12).

Every error is returned at once as `{path, message}`, so an agent can correct all of them in
one retry instead of one per round trip.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped]

from roundtable.errors import InvalidInput

#: Without a `parameters_schema`, a blueprint takes a non-empty prompt and nothing else.
DEFAULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"prompt": {"type": "string", "minLength": 1}},
    "required": ["prompt"],
    "additionalProperties": False,
}


def check_schema(schema: dict[str, Any] | None, field: str) -> None:
    """Refuse a schema that is not valid JSON Schema (when a blueprint is applied)."""
    if schema is None:
        return
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise InvalidInput(
            f"{field} is not a valid JSON Schema: {exc.message}",
            field=field,
            errors=[{"path": "$." + ".".join(str(p) for p in exc.path), "message": exc.message}],
        ) from None


def _path(parts: Any) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


#: Validators by the id of their schema, with the schema itself (held, so the id is not
#: reused): a blueprint version's parsed spec is cached, so its schema is the same object on
#: every start and its validator is built once.
_VALIDATORS: dict[int, tuple[dict[str, Any], Any]] = {}
VALIDATORS = 1024


def _validator(schema: dict[str, Any]) -> Any:
    cached = _VALIDATORS.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    validator = Draft202012Validator(schema)
    if len(_VALIDATORS) >= VALIDATORS:
        _VALIDATORS.clear()
    _VALIDATORS[id(schema)] = (schema, validator)
    return validator


def validate(schema: dict[str, Any] | None, parameters: Any, blueprint: str) -> dict[str, Any]:
    """`parameters` if they satisfy the schema, else `InvalidInput` listing every error."""
    validator = _validator(schema if schema is not None else DEFAULT_SCHEMA)
    errors = sorted(validator.iter_errors(parameters), key=lambda e: (list(e.path), e.message))
    if errors:
        listed = [{"path": _path(e.absolute_path), "message": e.message} for e in errors]
        raise InvalidInput(
            f"parameters for blueprint {blueprint!r} fail its schema: "
            + "; ".join(f"{e['path']}: {e['message']}" for e in listed),
            field="parameters",
            errors=listed,
        )
    if not isinstance(parameters, dict):  # a schema may allow non-objects; runs take objects
        raise InvalidInput(
            "parameters must be a JSON object",
            field="parameters",
            errors=[{"path": "$", "message": "must be an object"}],
        )
    return parameters
