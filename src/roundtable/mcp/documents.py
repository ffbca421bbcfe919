"""The context store's MCP tools (thin; see documents/). Flat parameters and one-line
descriptions: the tool list is part of every agent's context."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp_types import ToolAnnotations
from pydantic import Field, ValidationError

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
from roundtable.errors import InvalidInput
from roundtable.mcp.common import (
    IDEMPOTENT,
    READ,
    WRITE,
    McpState,
    NamespaceArg,
    _caller,
    _principal,
    domain_errors,
)

DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=False)

SessionArg = Annotated[
    str | None, Field(description="Your session id: places you in its tree (stdio: default).")
]
DocArg = Annotated[str, Field(description="Document id, or name (your tree's, else namespace).")]
VersionArg = Annotated[
    int | None, Field(description="Fail with conflict unless still at this version.")
]
TagsArg = Annotated[list[str] | None, Field(description="Only documents with all these tags.")]
ScopeArg = Annotated[
    ScopeName | None, Field(description="Only namespace-wide or only your tree's.")
]


def _filters(tags: list[str] | None, content_type: str | None, lifecycle: Lifecycle | None) -> Any:
    """`documents.search.Filters`, imported at the first call: it loads the store (SQLAlchemy),
    which listing the tools does not need."""
    from roundtable.documents.search import Filters

    return Filters(tags=tags or [], content_type=content_type, lifecycle=lifecycle)


def register(server: MCPServer[McpState]) -> None:
    """Add the document tools to `server` (called by `build_server`)."""

    @server.tool(title="Put document", annotations=WRITE)
    @domain_errors
    async def put_document(
        ctx: Context,
        name: str,
        content: str,
        content_type: str = "text/markdown",
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        lifecycle: Annotated[
            Lifecycle | None, Field(description="Default: temporal in a session tree.")
        ] = None,
        scope: Annotated[
            ScopeName | None, Field(description="Default: your session tree, else namespace.")
        ] = None,
        expected_version: Annotated[
            int | None, Field(description="0: must be new; n: must be at version n.")
        ] = None,
        session_id: SessionArg = None,
        namespace: NamespaceArg = None,
    ) -> DocumentInfo:
        """Create a shared document, or replace the content of the one with this name."""
        c = _caller(ctx, None, namespace)
        return await c.core.documents.put(
            _principal(ctx),
            c.namespace,
            name=name,
            content=content,
            actor=c.agent,
            content_type=content_type,
            tags=tags,
            metadata=metadata,
            lifecycle=lifecycle,
            scope=scope,
            session_id=c.session(session_id),
            expected_version=expected_version,
        )

    @server.tool(title="Get document", annotations=READ)
    @domain_errors
    async def get_document(
        ctx: Context,
        document: DocArg,
        offset: Annotated[int, Field(ge=0, description="First character to return.")] = 0,
        limit: Annotated[
            int | None, Field(ge=0, description="At most this many characters.")
        ] = None,
        session_id: SessionArg = None,
        namespace: NamespaceArg = None,
    ) -> Document:
        """Read a document, whole or a character range (`length` is the total)."""
        c = _caller(ctx, None, namespace)
        return await c.core.documents.get(
            _principal(ctx),
            c.namespace,
            document,
            offset=offset,
            limit=limit,
            session_id=c.session(session_id),
        )

    @server.tool(title="Edit document", annotations=WRITE)
    @domain_errors
    async def edit_document(
        ctx: Context,
        document: DocArg,
        new: Annotated[str, Field(description="Replacement text (empty deletes).")] = "",
        old: Annotated[
            str | None, Field(description="Exact text to replace; must be unique.")
        ] = None,
        replace_all: bool = False,
        offset: Annotated[
            int | None, Field(ge=0, description="Or: edit at this character.")
        ] = None,
        length: Annotated[int, Field(ge=0, description="Characters replaced at offset.")] = 0,
        expected_version: VersionArg = None,
        session_id: SessionArg = None,
        namespace: NamespaceArg = None,
    ) -> EditResult:
        """Edit part of a document: replace `old` with `new`, or at `offset`; one new version."""
        c = _caller(ctx, None, namespace)
        try:
            op = EditOp(old=old, new=new, replace_all=replace_all, offset=offset, length=length)
        except ValidationError as exc:
            message = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
            raise InvalidInput(message, field="old") from None
        return await c.core.documents.edit(
            _principal(ctx),
            c.namespace,
            document,
            op,
            actor=c.agent,
            expected_version=expected_version,
            session_id=c.session(session_id),
        )

    @server.tool(title="List documents", annotations=READ)
    @domain_errors
    async def list_documents(
        ctx: Context,
        tags: TagsArg = None,
        content_type: str | None = None,
        lifecycle: Lifecycle | None = None,
        scope: ScopeArg = None,
        limit: Annotated[int, Field(ge=1)] = 50,
        cursor: str | None = None,
        session_id: SessionArg = None,
        namespace: NamespaceArg = None,
    ) -> DocumentPage:
        """Documents you can see (your tree's and namespace-wide), oldest first."""
        c = _caller(ctx, None, namespace)
        return await c.core.documents.list_documents(
            _principal(ctx),
            c.namespace,
            filters=_filters(tags, content_type, lifecycle),
            scope=scope,
            session_id=c.session(session_id),
            limit=limit,
            cursor=cursor,
        )

    @server.tool(title="Search documents", annotations=READ)
    @domain_errors
    async def search_documents(
        ctx: Context,
        query: Annotated[str, Field(description="Words; all must occur.")],
        tags: TagsArg = None,
        content_type: str | None = None,
        lifecycle: Lifecycle | None = None,
        scope: ScopeArg = None,
        limit: Annotated[int, Field(ge=1)] = 20,
        cursor: str | None = None,
        session_id: SessionArg = None,
        namespace: NamespaceArg = None,
    ) -> SearchPage:
        """Ranked full-text search over documents you can see, with snippets."""
        c = _caller(ctx, None, namespace)
        return await c.core.documents.search(
            _principal(ctx),
            c.namespace,
            query,
            filters=_filters(tags, content_type, lifecycle),
            scope=scope,
            session_id=c.session(session_id),
            limit=limit,
            cursor=cursor,
        )

    @server.tool(title="Relate documents", annotations=IDEMPOTENT)
    @domain_errors
    async def relate_documents(
        ctx: Context,
        document: DocArg,
        other: Annotated[
            str | None, Field(description="Link to this one (omit to only list links).")
        ] = None,
        kind: Annotated[
            RelationKind, Field(description="document is parent / predecessor of other.")
        ] = RelationKind.RELATED,
        note: str = "",
        reverse_note: str = "",
        session_id: SessionArg = None,
        namespace: NamespaceArg = None,
    ) -> RelationList:
        """Link two documents (parent-child, related, predecessor-successor); list links."""
        c = _caller(ctx, None, namespace)
        principal = _principal(ctx)
        if other is None:
            return await c.core.documents.relations(
                principal, c.namespace, document, session_id=c.session(session_id)
            )
        return await c.core.documents.relate(
            principal,
            c.namespace,
            document,
            other,
            kind,
            actor=c.agent,
            note=note,
            reverse_note=reverse_note,
            session_id=c.session(session_id),
        )

    @server.tool(title="Delete document", annotations=DESTRUCTIVE)
    @domain_errors
    async def delete_document(
        ctx: Context,
        document: DocArg,
        expected_version: VersionArg = None,
        session_id: SessionArg = None,
        namespace: NamespaceArg = None,
    ) -> DeleteResult:
        """Delete a document and its children."""
        c = _caller(ctx, None, namespace)
        return await c.core.documents.delete(
            _principal(ctx),
            c.namespace,
            document,
            actor=c.agent,
            expected_version=expected_version,
            session_id=c.session(session_id),
        )
