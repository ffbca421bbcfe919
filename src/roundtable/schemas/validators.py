"""Compiled validators, cached: a schema's validator is built once per process.

Registry versions are immutable and inline schemas are keyed by their digest, so a cached
validator never goes stale. `$ref`s to registry schemas resolve through a `referencing.Registry`
holding exactly the referenced versions; anything else is refused, never fetched.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from threading import Lock
from typing import Any

from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT202012

from roundtable.errors import InvalidInput
from roundtable.schemas.refs import DIALECTS, dialect_of, error_path

#: How many compiled validators a process keeps.
CACHE_SIZE = 512
#: At most this many errors are reported for one output.
MAX_ERRORS = 50
MAX_MESSAGE = 300


def _refuse(uri: str) -> Resource[Any]:
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


def compile_validator(body: dict[str, Any], resources: Mapping[str, dict[str, Any]]) -> Any:
    """A validator for `body` whose registry refs resolve to `resources` (uri -> schema)."""
    registry: Registry[Any] = Registry(retrieve=_refuse).with_resources(  # type: ignore[call-arg]
        (uri, Resource.from_contents(contents, default_specification=DRAFT202012))
        for uri, contents in resources.items()
    )
    return DIALECTS[dialect_of(body)](body, registry=registry)


def _refs(body: Any) -> tuple[list[str], bool]:
    """Every `$ref` string in `body`, and whether a nested `$id` changes their base."""
    found: list[str] = []
    nested_id = False
    pending: list[tuple[Any, bool]] = [(body, True)]
    while pending:
        item, top = pending.pop()
        if isinstance(item, dict):
            if isinstance(item.get("$ref"), str):
                found.append(item["$ref"])
            nested_id = nested_id or (not top and "$id" in item)
            pending.extend((child, False) for child in item.values())
        elif isinstance(item, list):
            pending.extend((child, False) for child in item)
    return found, nested_id


def check_resolvable(body: dict[str, Any], resources: Mapping[str, dict[str, Any]]) -> None:
    """Refuse a schema whose `$ref`s do not all resolve (a missing `#/pointer`, say), so the
    mistake is reported when it is made, not when an agent's answer is validated. Schemas with
    nested `$id`s (other bases) are left to validation time."""
    refs, nested_id = _refs(body)
    if not refs or nested_id:
        return
    root = body["$id"] if isinstance(body.get("$id"), str) else "urn:roundtable:schema"
    registry: Registry[Any] = Registry(retrieve=_refuse).with_resources(  # type: ignore[call-arg]
        [
            *(
                (uri, Resource.from_contents(contents, default_specification=DRAFT202012))
                for uri, contents in resources.items()
            ),
            (root, Resource.from_contents(body, default_specification=DRAFT202012)),
        ]
    )
    resolver = registry.resolver(base_uri=root)
    for ref in refs:
        try:
            resolver.lookup(ref)
        except Exception:
            raise InvalidInput(
                f"$ref {ref!r} does not resolve",
                field="schema",
                errors=[{"path": "$", "message": f"unresolvable $ref {ref!r}"}],
            ) from None


class ValidatorCache:
    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = Lock()

    def get(self, key: str) -> Any | None:
        with self._lock:
            validator = self._items.get(key)
            if validator is not None:
                self._items.move_to_end(key)
            return validator

    def put(self, key: str, validator: Any) -> None:
        with self._lock:
            self._items[key] = validator
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


CACHE = ValidatorCache()


def errors_of(validator: Any, value: Any) -> list[dict[str, str]]:
    """Every error (up to `MAX_ERRORS`) as `{path, message}`, in document order."""
    found = sorted(
        validator.iter_errors(value), key=lambda e: ([str(p) for p in e.absolute_path], e.message)
    )
    return [
        {"path": error_path(e.absolute_path), "message": _short(e.message)}
        for e in found[:MAX_ERRORS]
    ]


def _short(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"
