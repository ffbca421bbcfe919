"""Documents: browse by scope and tag, search, view (Markdown rendered safely, JSON pretty),
edit with the version checked (a conflict is shown, nothing is overwritten), promote/demote."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from roundtable.auth.tokens import Principal
from roundtable.dashboard import web
from roundtable.documents.models import EditOp, Lifecycle, ScopeName
from roundtable.documents.search import Filters
from roundtable.errors import ConflictError, InvalidInput

router = APIRouter(route_class=web.HtmlRoute)
#: Scope filters offered: namespace-wide documents only; a tree is picked by its root session.
SCOPES: tuple[ScopeName, ...] = ("namespace",)


def _actor(caller: Principal) -> str | None:
    """A person with the admin token edits as nobody in particular; an agent as itself."""
    return None if caller.admin else caller.agent_for(None)


def _scope(value: str | None) -> ScopeName | None:
    if not value:
        return None
    if value != "namespace":
        raise InvalidInput("scope must be namespace (pick a tree by its root session)")
    return "namespace"


@router.get("/documents", response_class=HTMLResponse)
async def documents(request: Request) -> Response:
    caller = await web.signed_in(request)
    core = web.core_of(request)
    ns = web.namespace(request, caller)
    q = request.query_params
    tag = (q.get("tag") or "").strip()
    filters = Filters(tags=[tag] if tag else [])
    scope = _scope(q.get("scope"))
    text = (q.get("q") or "").strip()
    tree = (q.get("tree") or "").strip() or None
    hits: list[Any] = []
    listed: list[Any] = []
    if text:
        found = await core.documents.search(
            caller,
            ns,
            text,
            filters=filters,
            scope=scope,
            root_session=tree,
            limit=web.PAGE,
            cursor=q.get("cursor"),
        )
        hits, next_cursor = found.hits, found.next_cursor
    else:
        page = await core.documents.list_documents(
            caller,
            ns,
            filters=filters,
            scope=scope,
            root_session=tree,
            limit=web.PAGE,
            cursor=q.get("cursor"),
        )
        listed, next_cursor = page.documents, page.next_cursor
    return web.render(
        request,
        "documents.html",
        caller,
        hits=hits,
        listed=listed,
        next_cursor=next_cursor,
        query={"q": text, "tag": tag, "scope": scope or "", "tree": tree or ""},
        scopes=SCOPES,
    )


def _pretty_json(content: str) -> str | None:
    try:
        return json.dumps(json.loads(content), indent=2, ensure_ascii=False)
    except ValueError:
        return None


@router.get("/documents/{ref}", response_class=HTMLResponse)
async def document(request: Request, ref: str) -> Response:
    caller = await web.signed_in(request)
    core = web.core_of(request)
    ns = web.namespace(request, caller)
    doc = await core.documents.get(caller, ns, ref)
    relations = await core.documents.relations(caller, ns, doc.id)
    pretty = _pretty_json(doc.content) if "json" in doc.content_type else None
    return web.render(
        request, "document.html", caller, doc=doc, pretty=pretty, relations=relations.relations
    )


@router.get("/documents/{ref}/edit", response_class=HTMLResponse)
async def edit_form(request: Request, ref: str) -> Response:
    caller = await web.signed_in(request)
    core = web.core_of(request)
    doc = await core.documents.get(caller, web.namespace(request, caller), ref)
    return web.render(
        request, "document_edit.html", caller, doc=doc, content=doc.content, conflict=None
    )


@router.post("/documents/{ref}/edit", response_class=HTMLResponse)
async def edit(request: Request, ref: str) -> Response:
    """Replace the whole content, but only if the document is still at the version edited; a
    conflict shows the form again (200: a page, not a failed load) with both texts."""
    caller = await web.signed_in(request)
    fields = await web.form(request)
    core = web.core_of(request)
    ns = web.namespace(request, caller)
    try:
        version = int(fields.get("version", ""))
    except ValueError:
        raise InvalidInput("version must be the number the form was loaded with") from None
    content = fields.get("content", "").replace("\r\n", "\n")
    doc = await core.documents.get(caller, ns, ref)
    try:
        await core.documents.edit(
            caller,
            ns,
            doc.id,
            EditOp(offset=0, length=doc.length, new=content),
            actor=_actor(caller),
            expected_version=version,
        )
    except ConflictError as conflict:
        current = await core.documents.get(caller, ns, doc.id)
        return web.render(
            request,
            "document_edit.html",
            caller,
            doc=current,
            content=content,
            conflict=conflict.message,
            edited_version=version,
        )
    return web.redirect(request, f"/documents/{doc.id}")


@router.post("/documents/{ref}/lifecycle")
async def lifecycle(request: Request, ref: str) -> Response:
    caller = await web.signed_in(request)
    fields = await web.form(request)
    core = web.core_of(request)
    try:
        life = Lifecycle(fields.get("lifecycle", ""))
        version = int(fields["version"]) if fields.get("version") else None
    except ValueError:
        raise InvalidInput("lifecycle must be persistent or temporal", field="lifecycle") from None
    info = await core.documents.set_lifecycle(
        caller,
        web.namespace(request, caller),
        ref,
        life,
        actor=_actor(caller),
        expected_version=version,
    )
    return web.redirect(request, f"/documents/{info.id}")
