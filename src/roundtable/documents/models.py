"""What document calls take and return, shared by every interface (HTTP, MCP, CLI)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Lifecycle(StrEnum):
    # temporal: goes with its session tree (D6); persistent: stays.

    TEMPORAL = "temporal"
    PERSISTENT = "persistent"


class RelationKind(StrEnum):
    PARENT_CHILD = "parent-child"
    RELATED = "related"
    PREDECESSOR_SUCCESSOR = "predecessor-successor"


class Origin(StrEnum):
    # Who created a document: an agent (token, session) or a person (admin token, CLI).

    AGENT = "agent"
    PERSON = "person"


#: `namespace`: namespace-wide; `tree`: the caller's session tree (its root session).
ScopeName = Literal["namespace", "tree"]


class DocumentInfo(BaseModel):
    # A document without its content.

    id: str
    namespace: str
    name: str
    scope: ScopeName
    root_session: str | None
    lifecycle: Lifecycle
    content_type: str
    tags: list[str]
    metadata: dict[str, Any]
    length: int  # characters
    size_bytes: int  # UTF-8
    version: int
    created_by: str
    created_origin: Origin
    created_session: str | None
    created_at: datetime
    updated_at: datetime
    updated_by: str


class Document(DocumentInfo):
    # A document with (a slice of) its content: characters [offset, offset + len(content)).

    content: str
    offset: int = 0
    truncated: bool = Field(description="True if content stops before the document's end.")


class DocumentPage(BaseModel):
    documents: list[DocumentInfo]
    next_cursor: str | None = None


class SearchHit(BaseModel):
    document: DocumentInfo
    score: float = Field(description="Higher is better (bm25 on SQLite, ts_rank on PostgreSQL).")
    snippet: str = Field(description="Matching text with hits in [brackets].")


class SearchPage(BaseModel):
    hits: list[SearchHit]
    next_cursor: str | None = None


class Relation(BaseModel):
    # A link seen from one document: `other` is the document at the far end.

    kind: RelationKind
    role: Literal["parent", "child", "related", "predecessor", "successor"] = Field(
        description="What `other` is to this document."
    )
    other: str
    note: str = Field(description="Said of `other` by this side.")
    reverse_note: str = Field(description="Said of this document by `other`'s side.")
    created_at: datetime
    created_by: str


class RelationList(BaseModel):
    document_id: str
    relations: list[Relation]


class DeleteResult(BaseModel):
    deleted: list[str] = Field(description="Ids removed (children of a parent included).")


class EditOp(BaseModel):
    """One partial edit. Either `old` → `new` (exact match; unique unless `replace_all`), or
    at `offset` replace `length` characters (0 inserts) with `new` (empty deletes)."""

    model_config = ConfigDict(extra="forbid")

    old: str | None = None
    new: str = ""
    replace_all: bool = False
    offset: int | None = Field(default=None, ge=0)
    length: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _one_shape(self) -> EditOp:
        if (self.old is None) == (self.offset is None):
            raise ValueError("give either `old` (string replace) or `offset` (range edit)")
        if self.old is not None and (self.length or self.old == ""):
            raise ValueError("`old` must be non-empty and `length` goes only with `offset`")
        if self.offset is not None and self.replace_all:
            raise ValueError("`replace_all` goes only with `old`")
        return self


class EditResult(BaseModel):
    document: DocumentInfo
    replaced: int = Field(description="How many occurrences or ranges were changed.")
