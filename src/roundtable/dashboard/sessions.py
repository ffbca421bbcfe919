"""Sessions: the live tree with filters, one session's runs, results and events, stop, and
delete after the `dry_run` preview (D8)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from roundtable.dashboard import web
from roundtable.errors import ConflictError, InvalidInput
from roundtable.events.filters import EventFilter
from roundtable.orchestration import browse
from roundtable.sessions.models import SessionStatus

router = APIRouter(route_class=web.HtmlRoute)
#: Events shown on a session's timeline when the page loads (newer ones arrive live).
TIMELINE = 200


def _status(value: str | None) -> SessionStatus | None:
    if not value:
        return None
    try:
        return SessionStatus(value)
    except ValueError:
        raise InvalidInput(f"unknown status {value!r}", field="status") from None


@router.get("/sessions", response_class=HTMLResponse)
async def sessions(request: Request) -> Response:
    """The tree page; `?partial=1` answers only the tree (the live refresh swaps it in)."""
    caller = await web.signed_in(request)
    core = web.core_of(request)
    ns = web.namespace(request, caller)
    q = request.query_params
    filters = {
        "agent": q.get("agent") or None,
        "status": q.get("status") or None,
        "project": q.get("project") or None,
    }
    page = await browse.tree_page(
        core.db,
        caller,
        ns,
        agent=filters["agent"],
        status=_status(filters["status"]),
        project=filters["project"],
        before=web.decode_cursor(q.get("cursor")),
        limit=web.PAGE,
    )
    template = "sessions_tree.html" if q.get("partial") else "sessions.html"
    return web.render(
        request,
        template,
        caller,
        page=page,
        filters=filters,
        statuses=[s.value for s in SessionStatus],
        next_cursor=web.encode_cursor(page.next_after) if page.next_after else None,
    )


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
async def session_detail(request: Request, session_id: str) -> Response:
    caller = await web.signed_in(request)
    core = web.core_of(request)
    ns = web.namespace(request, caller)
    trees = core.orchestration.trees
    session = await trees.peek(ns, caller, session_id)  # the tree check (403/404) comes first
    runs = await trees.runs(ns, caller, session_id) if session.blueprint else []
    children = await trees.children(ns, caller, session_id)
    result = await trees.result(ns, caller, session_id) if session.blueprint else None
    waiting = await browse.callbacks(core.db, ns, session_id)
    after = web.decode_cursor(request.query_params.get("events"))
    if after is not None and not after.isdigit():
        raise InvalidInput("malformed cursor: follow the page's links", field="events")
    events = await core.events.read(
        EventFilter.for_principal(caller, namespace=ns, session_id=session_id),
        after=int(after or 0),
        limit=TIMELINE,
    )
    return web.render(
        request,
        "session.html",
        caller,
        session=session,
        runs=runs,
        children=children,
        result=result,
        callbacks=waiting,
        events=events.events,
        more_events=(
            web.encode_cursor(str(events.next_after)) if len(events.events) == TIMELINE else None
        ),
    )


@router.post("/sessions/{session_id}/stop")
async def stop(request: Request, session_id: str) -> Response:
    caller = await web.signed_in(request)
    await web.form(request)
    core = web.core_of(request)
    await core.orchestration.trees.stop(web.namespace(request, caller), caller, session_id)
    return web.redirect(request, f"/sessions/{session_id}")


@router.get("/sessions/{session_id}/delete", response_class=HTMLResponse)
async def delete_preview(request: Request, session_id: str) -> Response:
    """What deleting would remove (the service's dry run), with the confirm button."""
    caller = await web.signed_in(request)
    core = web.core_of(request)
    ns = web.namespace(request, caller)
    deletion = core.orchestration.deletion
    active: list[str] = []
    try:
        preview = await deletion.delete(ns, caller, session_id, dry_run=True)
    except ConflictError as conflict:  # active sessions below: show them, confirm with force
        active = list(conflict.data.get("active", []))
        preview = await deletion.delete(ns, caller, session_id, force=True, dry_run=True)
    session = await core.orchestration.trees.peek(ns, caller, session_id)
    return web.render(
        request,
        "delete.html",
        caller,
        session=session,
        preview=preview,
        active=active,
        deleted=None,
    )


@router.post("/sessions/{session_id}/delete", response_class=HTMLResponse)
async def delete(request: Request, session_id: str) -> Response:
    caller = await web.signed_in(request)
    fields = await web.form(request)
    core = web.core_of(request)
    ns = web.namespace(request, caller)
    result = await core.orchestration.deletion.delete(
        ns, caller, session_id, force=fields.get("force") == "1", dry_run=False
    )
    return web.render(
        request, "delete.html", caller, session=None, preview=None, active=[], deleted=result
    )
