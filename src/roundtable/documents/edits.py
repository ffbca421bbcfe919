"""Partial edits as character splices: pure functions, shared by the service and its tests.

An edit is either an exact `old` → `new` replacement (refused if `old` is absent, or occurs more
than once without `replace_all`, so an agent never changes a place it did not mean), or a range
edit at `offset` (insert, replace or delete). Either way it becomes a list of non-overlapping
`(start, end, replacement)` splices the chunk store applies in one versioned write.
"""

from __future__ import annotations

from roundtable.documents.models import EditOp
from roundtable.errors import InvalidInput

Splice = tuple[int, int, str]


def needs_text(op: EditOp) -> bool:
    """Whether the splices depend on the content (string edits) or only on its length."""
    return op.old is not None


def splices(op: EditOp, length: int, text: str | None = None) -> list[Splice]:
    """The splices `op` makes on a document of `length` characters (`text` for string edits)."""
    if op.old is None:
        assert op.offset is not None
        if op.offset > length or op.offset + op.length > length:
            raise InvalidInput(
                f"range {op.offset}+{op.length} is outside the document ({length} characters)",
                field="offset",
                length=length,
            )
        return [(op.offset, op.offset + op.length, op.new)]
    assert text is not None
    found: list[int] = []
    at = text.find(op.old)
    while at >= 0:
        found.append(at)
        if not op.replace_all and len(found) > 1:
            break
        at = text.find(op.old, at + len(op.old))
    if not found:
        raise InvalidInput("`old` does not occur in the document", field="old")
    if len(found) > 1 and not op.replace_all:
        raise InvalidInput(
            "`old` occurs more than once: add context to make it unique, or set replace_all",
            field="old",
        )
    return [(at, at + len(op.old), op.new) for at in found]


def apply(text: str, edits: list[Splice]) -> str:
    """The text after `edits` (the reference the chunk store must agree with)."""
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text
