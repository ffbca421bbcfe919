"""Names, references and the checks every schema passes before it is stored or used.

A registry schema is named `NAME@N` (one version) or `NAME` (the latest). Inside a schema,
another registry schema is referenced as `roundtable://schemas/NAME@N` (optionally with a
`#/json/pointer` fragment). Only those and same-document refs (`#...`) are accepted: nothing is
ever fetched over the network, and a version must be pinned so a stored schema never changes
meaning when its dependency gets a new version.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import rfc8785
from jsonschema import Draft7Validator, Draft202012Validator  # type: ignore[import-untyped]

from roundtable.errors import InvalidInput

PREFIX = "roundtable://schemas/"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_REF = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,127})(?:@(?P<version>[1-9][0-9]{0,8}))?")
#: A schema's canonical JSON may be at most this big (a 1 MB schema is refused).
MAX_SCHEMA_BYTES = 256 * 1024
#: `$schema` values honoured (with or without the trailing `#`), and the validator of each.
DIALECTS: dict[str, Any] = {
    "https://json-schema.org/draft/2020-12/schema": Draft202012Validator,
    "http://json-schema.org/draft-07/schema": Draft7Validator,
}
DEFAULT_DIALECT = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True)
class Ref:
    name: str
    version: int | None

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}@{self.version}"

    @property
    def uri(self) -> str:
        return PREFIX + str(self)


def parse(text: object, field: str = "schema") -> Ref:
    """`NAME` or `NAME@N` (InvalidInput otherwise)."""
    match = _REF.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidInput(
            f"invalid schema reference {text!r}: use NAME or NAME@VERSION (NAME: 1-128 of "
            "letters, digits and ._-, starting with a letter or digit)",
            field=field,
        )
    version = match.group("version")
    return Ref(match.group("name"), int(version) if version else None)


def check_name(name: object) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InvalidInput(
            f"invalid schema name {name!r}: use 1-128 of letters, digits and ._-, "
            "starting with a letter or digit",
            field="name",
        )
    return name


def dialect_of(body: dict[str, Any]) -> str:
    declared = body.get("$schema")
    if declared is None:
        return DEFAULT_DIALECT
    uri = declared.rstrip("#") if isinstance(declared, str) else None
    if uri not in DIALECTS:
        raise InvalidInput(
            f"unknown $schema {declared!r}: use Draft 2020-12 ({DEFAULT_DIALECT}, the default) "
            "or draft-07 (http://json-schema.org/draft-07/schema#)",
            field="schema",
            errors=[{"path": "$.$schema", "message": "unknown dialect"}],
        )
    return str(uri)


def _keyword_values(body: Any, keywords: tuple[str, ...]) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    pending = [body]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            found.extend((key, item[key]) for key in keywords if key in item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return found


def registry_refs(body: dict[str, Any]) -> list[Ref]:
    """The registry schemas `body` references; `InvalidInput` for any other non-local ref."""
    refs: set[Ref] = set()
    for keyword, value in _keyword_values(body, ("$ref", "$dynamicRef", "$id")):
        if not isinstance(value, str):
            continue  # the meta-schema check reports the type
        if keyword == "$id":
            if value.startswith(PREFIX):
                raise InvalidInput(
                    f"$id {value!r} may not claim a registry address", field="schema"
                )
            continue
        if value.startswith("#"):
            continue
        if value.startswith(PREFIX):
            target = value[len(PREFIX) :].split("#", 1)[0]
            ref = parse(target, "schema")
            if ref.version is None:
                raise InvalidInput(
                    f"{keyword} {value!r} must pin a version: {PREFIX}{ref.name}@N",
                    field="schema",
                )
            refs.add(ref)
            continue
        raise InvalidInput(
            f"{keyword} {value!r} is not allowed: schemas are never fetched; use '#/...' "
            f"within the schema or {PREFIX}NAME@N for a registry schema",
            field="schema",
            errors=[{"path": "$", "message": f"remote or relative {keyword} {value!r}"}],
        )
    return sorted(refs, key=str)


def canonical(body: Any) -> bytes:
    try:
        return bytes(rfc8785.dumps(body))
    except Exception as exc:  # rfc8785 raises its own types for NaN, huge ints, bad keys
        raise InvalidInput(f"the schema cannot be canonicalised as JSON: {exc}") from None


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Checked:
    body: dict[str, Any]
    dialect: str
    refs: list[Ref]
    digest: str


def error_path(parts: Any) -> str:
    path = "$"
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$-]*", str(part)):
            path += f".{part}"
        else:
            path += "[" + rfc8785.dumps(str(part)).decode() + "]"
    return path


def check(body: object, field: str = "schema") -> Checked:
    """A schema fit to store: an object, under the size limit, of a known dialect, valid
    against its meta-schema (every error listed), with only allowed refs."""
    if not isinstance(body, dict):
        raise InvalidInput(
            f"a schema must be a JSON object, not {type(body).__name__}",
            field=field,
            errors=[{"path": "$", "message": "must be an object"}],
        )
    data = canonical(body)
    if len(data) > MAX_SCHEMA_BYTES:
        raise InvalidInput(
            f"the schema is {len(data)} bytes; the limit is {MAX_SCHEMA_BYTES}",
            field=field,
            limit=MAX_SCHEMA_BYTES,
        )
    dialect = dialect_of(body)
    cls = DIALECTS[dialect]
    meta = cls(cls.META_SCHEMA)
    errors = sorted(meta.iter_errors(body), key=lambda e: (list(e.absolute_path), e.message))
    if errors:
        listed = [{"path": error_path(e.absolute_path), "message": e.message[:500]} for e in errors]
        raise InvalidInput(
            f"{field} is not a valid JSON Schema ({dialect}): "
            + "; ".join(f"{e['path']}: {e['message']}" for e in listed[:10]),
            field=field,
            errors=listed[:100],
        )
    return Checked(body, dialect, registry_refs(body), digest(data))
