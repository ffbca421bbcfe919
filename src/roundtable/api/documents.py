"""The context store over HTTP: /api/v1/namespaces/{ns}/documents (thin; see documents/).

`{ref}` is a document id, or a name (names containing `/` are reached by id). Scope filters are
query parameters and narrow what the token allows, never widen it (D7).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from roundtable.api.deps import Caller, Core
from roundtable.auth.tokens import Principal
from roundtable.documents.models import (
    DeleteResult,
    Document,
    DocumentInfo,
    DocumentPage,
    EditOp,
    EditResult,
    Lifecycle,
    RelationKind,
    RelationList,
    ScopeName,
    SearchPage,
)
from roundtable.documents.search import Filters

router = APIRouter(prefix="/api/v1/namespaces/{namespace}/documents", tags=["documents"])


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PutDocument(Strict):
    name: str
    content: str
    content_type: str = "text/markdown"
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    lifecycle: Lifecycle | None = Field(
        default=None, description="Default: temporal inside a session tree, else persistent."
    )
    scope: ScopeName | None = Field(
        default=None, description="Default: the caller's session tree if any, else namespace."
    )
    session_id: str | None = Field(default=None, description="Create from inside this tree.")
    expected_version: int | None = Field(
        default=None, description="0: must not exist yet; n: must still be at version n."
    )
    agent: str | None = Field(default=None, description="Admin only: act as this agent.")


class EditDocument(EditOp):
    expected_version: int | None = None
    session_id: str | None = None
    agent: str | None = None

    def op(self) -> EditOp:
        return EditOp.model_validate(self.model_dump(include=set(EditOp.model_fields)))


class SetLifecycle(Strict):
    lifecycle: Lifecycle
    expected_version: int | None = None
    session_id: str | None = None
    agent: str | None = None


class Relate(Strict):
    other: str = Field(description="The child, the successor, or the related document.")
    kind: RelationKind = RelationKind.RELATED
    note: str = Field(default="", description="What `other` is, said from this document.")
    reverse_note: str = Field(default="", description="What this document is to `other`.")
    session_id: str | None = None
    agent: str | None = None


def _namespace(namespace: str, core: Core, caller: Caller) -> str:
    """The `{namespace}` of the path, as the token may act in it (403 otherwise)."""
    return caller.namespace_for(namespace, core.settings.namespace)


#: Every route's namespace, checked against the token once per request.
Namespace = Annotated[str, Depends(_namespace)]


def _actor(caller: Principal, agent: str | None) -> str | None:
    """The acting agent; None for a person (the admin token naming no agent)."""
    if caller.admin and agent is None:
        return None
    return caller.agent_for(agent)


TagsQuery = Annotated[list[str] | None, Query(description="Only documents with all these tags.")]


def _page_query(
    tags: TagsQuery = None,
    content_type: str | None = None,
    lifecycle: Lifecycle | None = None,
    scope: ScopeName | None = None,
    session_id: str | None = None,
    root_session: str | None = None,
    cursor: str | None = None,
) -> dict[str, Any]:
    """The query parameters `list` and `search` share, as the service takes them."""
    return {
        "filters": Filters(tags=tags or [], content_type=content_type, lifecycle=lifecycle),
        "scope": scope,
        "session_id": session_id,
        "root_session": root_session,
        "cursor": cursor,
    }


PageQuery = Annotated[dict[str, Any], Depends(_page_query)]


@router.post(
    "", tags=["documents"], responses={201: {"model": DocumentInfo, "description": "Created"}}
)
async def put_document(
    ns: Namespace, body: PutDocument, core: Core, caller: Caller, response: Response
) -> DocumentInfo:
    """Create a document (201), or replace the content of the one with this name (200)."""
    info = await core.documents.put(
        caller,
        ns,
        name=body.name,
        content=body.content,
        actor=_actor(caller, body.agent),
        content_type=body.content_type,
        tags=body.tags,
        metadata=body.metadata,
        lifecycle=body.lifecycle,
        scope=body.scope,
        session_id=body.session_id,
        expected_version=body.expected_version,
    )
    response.status_code = 201 if info.version == 1 else 200
    return info


@router.get("")
async def list_documents(
    ns: Namespace,
    core: Core,
    caller: Caller,
    page: PageQuery,
    limit: Annotated[int, Query(ge=1)] = 50,
) -> DocumentPage:
    """Documents the caller may see, oldest first; filters narrow, never widen."""
    return await core.documents.list_documents(caller, ns, limit=limit, **page)


@router.get("/search")
async def search_documents(
    ns: Namespace,
    core: Core,
    caller: Caller,
    q: Annotated[str, Query(description="Words; every one must occur.")],
    page: PageQuery,
    limit: Annotated[int, Query(ge=1)] = 20,
) -> SearchPage:
    """Ranked full-text search with snippets, best first."""
    return await core.documents.search(caller, ns, q, limit=limit, **page)


@router.get("/{ref}")
async def get_document(
    ns: Namespace,
    ref: str,
    core: Core,
    caller: Caller,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int | None, Query(ge=0)] = None,
    session_id: str | None = None,
    root_session: str | None = None,
) -> Document:
    """A document with its content, or characters [offset, offset + limit) of it."""
    return await core.documents.get(
        caller,
        ns,
        ref,
        offset=offset,
        limit=limit,
        session_id=session_id,
        root_session=root_session,
    )


@router.patch("/{ref}")
async def edit_document(
    ns: Namespace, ref: str, body: EditDocument, core: Core, caller: Caller
) -> EditResult:
    """One partial edit (`old` → `new`, or at `offset`), one new version."""
    return await core.documents.edit(
        caller,
        ns,
        ref,
        body.op(),
        actor=_actor(caller, body.agent),
        expected_version=body.expected_version,
        session_id=body.session_id,
    )


@router.post("/{ref}/lifecycle")
async def set_lifecycle(
    ns: Namespace, ref: str, body: SetLifecycle, core: Core, caller: Caller
) -> DocumentInfo:
    """Promote to persistent, or demote to temporal (tree documents only)."""
    return await core.documents.set_lifecycle(
        caller,
        ns,
        ref,
        body.lifecycle,
        actor=_actor(caller, body.agent),
        expected_version=body.expected_version,
        session_id=body.session_id,
    )


@router.delete("/{ref}")
async def delete_document(
    ns: Namespace,
    ref: str,
    core: Core,
    caller: Caller,
    expected_version: int | None = None,
    session_id: str | None = None,
    agent: str | None = None,
) -> DeleteResult:
    """Delete a document and its children (parent-child links)."""
    return await core.documents.delete(
        caller,
        ns,
        ref,
        actor=_actor(caller, agent),
        expected_version=expected_version,
        session_id=session_id,
    )


@router.get("/{ref}/relations")
async def list_relations(
    ns: Namespace, ref: str, core: Core, caller: Caller, session_id: str | None = None
) -> RelationList:
    """The document's links whose other end the caller can see."""
    return await core.documents.relations(caller, ns, ref, session_id=session_id)


@router.post("/{ref}/relations")
async def relate_documents(
    ns: Namespace, ref: str, body: Relate, core: Core, caller: Caller
) -> RelationList:
    """Link this document to `other`: as parent, predecessor, or related."""
    return await core.documents.relate(
        caller,
        ns,
        ref,
        body.other,
        body.kind,
        actor=_actor(caller, body.agent),
        note=body.note,
        reverse_note=body.reverse_note,
        session_id=body.session_id,
    )
