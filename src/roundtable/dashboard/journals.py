"""Journals: projects with size, head and latest checkpoint; entries with the `query_entries`
filters (live); verify with its report; per entry an inclusion proof against the latest signed
checkpoint, checked in the page (static/app.js) and downloadable for an outside verifier."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from pydantic import ValidationError

from roundtable.auth.tokens import Principal
from roundtable.dashboard import web
from roundtable.errors import InvalidInput, NotFound, PermissionDenied
from roundtable.journal import checkpoints, cursor, hashing
from roundtable.journal.models import Checkpoint, Entry, QueryFilter
from roundtable.runtime import Roundtable

router = APIRouter(route_class=web.HtmlRoute)
FILTERS = ("text", "status", "agent", "kind", "since", "until")


def _allowed(caller: Principal, project: str) -> None:
    """A token whose `scope.projects` names journals reaches only those."""
    if caller.projects is not None and project not in caller.projects:
        raise PermissionDenied(f"this token is not scoped to project {project!r}", project=project)


async def _latest(core: Roundtable, ns: str, project: str) -> Checkpoint | None:
    try:
        return await checkpoints.latest(core.db, ns, project)
    except NotFound:
        return None


@router.get("/journals", response_class=HTMLResponse)
async def journals(request: Request) -> Response:
    caller = await web.signed_in(request)
    core = web.core_of(request)
    ns = web.namespace(request, caller)
    projects = [
        p
        for p in await core.journal.list_projects(ns)
        if caller.projects is None or p.name in caller.projects
    ]
    page, next_cursor = web.slice_page(
        sorted(projects, key=lambda p: p.name), lambda p: p.name, request.query_params.get("cursor")
    )
    latest = {p.name: await _latest(core, ns, p.name) for p in page}
    return web.render(
        request, "journals.html", caller, projects=page, latest=latest, next_cursor=next_cursor
    )


def _query(project: str, params: dict[str, str], cursor: str | None) -> QueryFilter:
    raw: dict[str, Any] = {"projects": [project], "limit": web.PAGE, "cursor": cursor}
    for name in FILTERS:
        value = params.get(name, "").strip()
        if not value:
            continue
        if name == "status":
            raw[name] = [value]
        elif name in ("since", "until"):
            try:
                when = datetime.fromisoformat(value)
            except ValueError:
                raise InvalidInput(f"{name} must be a date and time", field=name) from None
            # A browser's datetime-local field has no zone: the form labels it UTC.
            raw[name] = when if when.tzinfo else when.replace(tzinfo=UTC)
        else:
            raw[name] = value
    try:
        return QueryFilter.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"{field}: {first['msg']}", field=field) from None


@router.get("/journals/{project}", response_class=HTMLResponse)
async def journal(request: Request, project: str) -> Response:
    """Entries newest first; `?partial=1` answers only the table (the live refresh)."""
    caller = await web.signed_in(request)
    _allowed(caller, project)
    core = web.core_of(request)
    ns = web.namespace(request, caller)
    info = await core.journal.get_project(ns, project)
    params = dict(request.query_params)
    if any(params.get(name, "").strip() for name in FILTERS):
        page = await core.journal.query(ns, _query(project, params, params.get("cursor")))
    else:  # the plain newest-first list: the journal's own fast path (by seq)
        page = await core.journal.read_recent(
            ns, project, limit=web.PAGE, cursor_=params.get("cursor")
        )
    filters = {name: params.get(name, "") for name in FILTERS}
    template = "entries.html" if params.get("partial") else "journal.html"
    return web.render(
        request,
        template,
        caller,
        project=info,
        page=page,
        filters=filters,
        statuses=["info", "success", "warn", "error", "bug"],
        checkpoint=await _latest(core, ns, project),
    )


@router.get("/journals/{project}/verify", response_class=HTMLResponse)
async def verify(request: Request, project: str) -> Response:
    """Recompute the chain (read-only, so a plain link) and show the report."""
    caller = await web.signed_in(request)
    _allowed(caller, project)
    core = web.core_of(request)
    ns = web.namespace(request, caller)
    report = await core.journal.verify(ns, project)
    return web.render(request, "verify.html", caller, project=project, report=report)


async def _bundle(request: Request, project: str, seq: int) -> tuple[Principal, dict[str, Any]]:
    caller = await web.signed_in(request)
    _allowed(caller, project)
    core = web.core_of(request)
    ns = web.namespace(request, caller)
    if not 1 <= seq <= cursor.MAX_POSITION - 1:
        raise NotFound(f"no entry {seq} in project {project!r}", seq=seq)
    found = await core.journal.read_recent(ns, project, limit=1, cursor_=cursor.encode(seq + 1))
    if not found.entries or found.entries[0].seq != seq:
        raise NotFound(f"no entry {seq} in project {project!r}", seq=seq)
    entry: Entry = found.entries[0]
    checkpoint = await _latest(core, ns, project)
    proof = None
    if checkpoint is not None and seq <= checkpoint.size:
        proof = await core.journal.inclusion_proof(ns, project, seq, checkpoint.size)
    canonical = hashing.canonical_entry(
        namespace=entry.namespace,
        project=entry.project,
        seq=entry.seq,
        ts=entry.ts,
        agent=entry.agent,
        session_id=entry.session_id,
        status=entry.status.value,
        kind=entry.kind,
        message=entry.message,
        meta=entry.meta,
        prev_hash=entry.prev_hash,
    )
    return caller, {
        "entry": entry.model_dump(mode="json"),
        # The exact bytes hashed (RFC 8785): SHA-256 of them is the entry hash, and of
        # 0x00 || them the Merkle leaf the audit path starts from.
        "canonical": canonical.decode(),
        "checkpoint": checkpoint.model_dump(mode="json") if checkpoint else None,
        "inclusion": proof.model_dump(mode="json") if proof else None,
    }


@router.get("/journals/{project}/entries/{seq}", response_class=HTMLResponse)
async def entry(request: Request, project: str, seq: int) -> Response:
    caller, bundle = await _bundle(request, project, seq)
    return web.render(
        request,
        "entry.html",
        caller,
        project=project,
        bundle=bundle,
        # For a <script type="application/json"> block: no character can close the element.
        bundle_json=Markup(
            json.dumps(bundle, ensure_ascii=False)
            .replace("<", "\\u003c")
            .replace(">", "\\u003e")
            .replace("&", "\\u0026")
        ),
    )


@router.get("/journals/{project}/entries/{seq}/proof.json")
async def proof_download(request: Request, project: str, seq: int) -> Response:
    """The entry, the signed checkpoint and the audit path, for an outside verifier."""
    _, bundle = await _bundle(request, project, seq)
    return Response(
        json.dumps(bundle, indent=2, ensure_ascii=False),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{project}-{seq}-proof.json"',
            **web.SECURITY_HEADERS,
        },
    )
