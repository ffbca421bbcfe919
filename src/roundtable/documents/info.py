"""Turning a `documents` row (or the values just written) into the `DocumentInfo` callers see."""

from __future__ import annotations

from typing import Any

from roundtable.documents.models import DocumentInfo
from roundtable.documents.scope import NAMESPACE


def info_from_row(row: Any) -> DocumentInfo:
    m = row._mapping
    root = m["root_session"]
    return DocumentInfo(
        id=m["id"],
        namespace=m["namespace"],
        name=m["name"],
        scope="namespace" if root == NAMESPACE else "tree",
        root_session=root or None,
        lifecycle=m["lifecycle"],
        content_type=m["content_type"],
        tags=m["tags"],
        metadata=m["metadata"],
        length=m["length"],
        size_bytes=m["size_bytes"],
        version=m["version"],
        created_by=m["created_by"],
        created_origin=m["created_origin"],
        created_session=m["created_session"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        updated_by=m["updated_by"],
    )


class ValuesRow:
    """A dict seen as a row (for `info_from_row` on values just written)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._mapping = values
