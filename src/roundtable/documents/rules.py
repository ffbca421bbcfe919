"""The context store's input rules: names, tags, content types, notes and versions (D2).

Each check raises `InvalidInput` (or `ConflictError` for a stale version) naming the field, so
every adapter reports bad input the same way, before anything is written.
"""

from __future__ import annotations

import json
import re
from typing import Any

from roundtable.errors import ConflictError, InvalidInput
from roundtable.validation import check_text

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")
_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9.+-]{0,63}/[a-z0-9][a-z0-9.+-]{0,63}")
MAX_TAGS = 32
MAX_NOTE_CHARS = 4096


def check_name(name: str) -> str:
    check_text("name", name)
    if not 0 < len(name) <= 256 or name != name.strip() or any(ord(c) < 32 for c in name):
        raise InvalidInput(
            "name must be 1-256 characters, without control characters or outer spaces",
            field="name",
        )
    return name


def check_tags(tags: list[str] | None) -> list[str]:
    found = sorted(set(tags or []))
    if len(found) > MAX_TAGS:
        raise InvalidInput(f"at most {MAX_TAGS} tags", field="tags")
    for tag in found:
        if not isinstance(tag, str) or not _TAG.fullmatch(tag):
            raise InvalidInput(
                f"invalid tag {tag!r}: 1-64 of letters, digits and ._:/-", field="tags"
            )
    return found


def is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


def check_content_type(content_type: str) -> str:
    if not _CONTENT_TYPE.fullmatch(content_type):
        raise InvalidInput(
            f"invalid content type {content_type!r}: use a lowercase type/subtype",
            field="content_type",
        )
    return content_type


def check_note(what: str, note: str) -> str:
    check_text(what, note)
    if len(note) > MAX_NOTE_CHARS:
        raise InvalidInput(f"{what} is longer than {MAX_NOTE_CHARS} characters", field=what)
    return note


def check_version(row: Any, expected: int | None) -> None:
    if expected is not None and expected != row.version:
        raise ConflictError(
            f"document {row.id} is at version {row.version}, not {expected}",
            document_id=row.id,
            current_version=row.version,
            expected_version=expected,
        )


def write_mode(expected: int | None) -> str:
    return "last_write_wins" if expected is None else "versioned"


def check_content(content: str, content_type: str, max_bytes: int) -> int:
    """Validate content (size limit, JSON for JSON types); returns its size in UTF-8 bytes."""
    check_text("content", content)
    size = len(content.encode())
    if size > max_bytes:
        raise InvalidInput(
            f"content is {size} bytes; the limit is {max_bytes}",
            field="content",
            size_bytes=size,
            limit=max_bytes,
        )
    if is_json(content_type):
        try:
            json.loads(content)
        except ValueError as exc:
            raise InvalidInput(
                f"content is not valid JSON ({content_type}): {exc}", field="content"
            ) from None
    return size
