"""The overview: agents seen, sessions by status, runners online, the last events (live)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from roundtable.dashboard import web
from roundtable.events.filters import EventFilter
from roundtable.orchestration import browse

router = APIRouter(route_class=web.HtmlRoute)
#: Events shown on the overview (newer ones arrive over the stream).
LAST_EVENTS = 25


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request) -> Response:
    caller = await web.signed_in(request)
    core = web.core_of(request)
    ns = web.namespace(request, caller)
    after = request.query_params.get("agents")
    agents, next_agent = await browse.agents_seen(
        core.db, ns, after=web.decode_cursor(after), limit=web.PAGE
    )
    counts = await browse.counts_by_status(core.db, ns)
    runners = await core.orchestration.runners.list(ns)
    latest = await core.events.latest_id()
    page = await core.events.read(
        EventFilter.for_principal(caller, namespace=ns),
        after=max(0, latest - 500),
        limit=500,
    )
    events = list(reversed(page.events[-LAST_EVENTS:]))
    template = "overview_cards.html" if request.query_params.get("partial") else "overview.html"
    return web.render(
        request,
        template,
        caller,
        agents=agents,
        next_agents=web.encode_cursor(next_agent) if next_agent else None,
        counts=counts,
        total=sum(counts.values()),
        runners=runners,
        online=sum(1 for r in runners if r.state == "online"),
        events=events,
    )
