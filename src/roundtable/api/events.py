"""Events over HTTP: the live SSE stream, the long-poll read, and the cookie login for browsers.

A browser's `EventSource` cannot send an `Authorization` header, so `POST /api/v1/auth/login`
turns a token into an HttpOnly, SameSite=Strict cookie. The cookie is accepted only on the two
read-only event routes below, never on routes that change state (no CSRF surface). A token in
the URL would end up in logs and browser history: such requests are refused, never served.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

import jwt
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from roundtable.api.deps import Core
from roundtable.auth.tokens import Principal
from roundtable.errors import InvalidInput, PermissionDenied
from roundtable.events.service import Dropped, Event, EventFilter, EventPage, Resync, StreamItem
from roundtable.runtime import Roundtable

router = APIRouter(prefix="/api/v1", tags=["events"])

#: The login cookie; scoped to the API, sent only to the same site.
COOKIE = "roundtable_token"
COOKIE_PATH = "/api/v1"
#: Query parameters that would carry a credential in the URL; their presence is refused.
URL_CREDENTIALS = frozenset(
    {"token", "access_token", "bearer", "bearer_token", "authorization", "auth", "jwt", "api_key"}
)
#: How long a browser's EventSource waits before reconnecting after the stream ends.
RETRY_MS = 2000


class BadRequest(InvalidInput):
    """The request is malformed in a way that is not about a field's value (HTTP 400)."""

    http_status = 400
    title = "Bad request"


class Login(BaseModel):
    token: str = Field(min_length=1, description="The admin token or an agent token.")


class Whoami(BaseModel):
    admin: bool
    agent: str | None
    namespace: str | None
    expires_at: datetime | None = Field(description="When the token (and the cookie) expires.")


def refuse_url_credentials(request: Request) -> None:
    """400 for a token in the query string: it would leak into logs, history and Referer."""
    found = sorted({name for name in request.query_params if name.lower() in URL_CREDENTIALS})
    if found:
        raise BadRequest(
            f"credentials are not accepted in the URL ({', '.join(found)}): send "
            "'Authorization: Bearer TOKEN', or log in with POST /api/v1/auth/login for a cookie",
            parameters=found,
        )


async def event_caller(request: Request, core: Core) -> Principal:
    """The caller of an event route: the bearer header, else the login cookie."""
    refuse_url_credentials(request)
    header = request.headers.get("authorization")
    cookie = request.cookies.get(COOKIE)
    if not header and cookie:
        header = f"Bearer {cookie}"
    principal = await core.authenticate_async(header)
    if principal.runner_id is not None:
        raise PermissionDenied("a runner token is valid only on its own /api/v1/runners routes")
    return principal


EventCaller = Annotated[Principal, Depends(event_caller)]
Types = Annotated[
    list[str] | None,
    Query(description="Event types, repeatable or comma-separated; `*` is a wildcard."),
]


def _filter(
    caller: Principal,
    types: list[str] | None,
    namespace: str | None,
    project: str | None,
    agent: str | None,
    session: str | None,
) -> EventFilter:
    patterns = [part.strip() for value in types or [] for part in value.split(",") if part.strip()]
    return EventFilter.for_principal(
        caller,
        namespace=namespace,
        types=patterns or None,
        project=project,
        agent=agent,
        session_id=session,
    )


def _resume_point(last_event_id: str | None, after: int | None) -> int | None:
    """Where a stream starts: Last-Event-ID (a reconnect) wins over `after`; None = from now."""
    if last_event_id is None or not last_event_id.strip():
        return after
    try:
        value = int(last_event_id.strip())
    except ValueError:
        raise InvalidInput(
            f"Last-Event-ID must be an event id (a number), not {last_event_id!r}",
            field="Last-Event-ID",
        ) from None
    if value < 0:
        raise InvalidInput("Last-Event-ID must not be negative", field="Last-Event-ID")
    return value


def _data(model: BaseModel) -> str:
    return json.dumps(model.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=False)


#: Frames of recent events, by the identity of the Event object the bus fanned out: one event
#: goes to every subscriber of the process, and is encoded once instead of once per client.
_FRAMES: OrderedDict[int, tuple[Event, bytes]] = OrderedDict()
_FRAME_CACHE_SIZE = 4096
#: A burst already queued for a client is sent as one write of at most this many bytes.
BATCH_BYTES = 64 * 1024
#: Live items taken from a subscription per synchronous call while filling one write.
READY_BATCH = 64


def frame(item: StreamItem) -> bytes:
    """One SSE message. Notices carry their resume point as `id`, so an `EventSource` that
    reconnects by itself sends the right `Last-Event-ID`."""
    if isinstance(item, Event):
        cached = _FRAMES.get(id(item))
        if cached is not None and cached[0] is item:
            return cached[1]
        encoded = f"id: {item.id}\nevent: {item.type}\ndata: {_data(item)}\n\n".encode()
        _FRAMES[id(item)] = (item, encoded)
        if len(_FRAMES) > _FRAME_CACHE_SIZE:
            _FRAMES.popitem(last=False)
        return encoded
    return f"id: {item.resume_after}\nevent: {item.kind}\ndata: {_data(item)}\n\n".encode()


async def _stream(core: Roundtable, filter: EventFilter, after: int | None) -> AsyncIterator[bytes]:
    heartbeat = core.settings.event_heartbeat_seconds
    async with core.events.subscribe(filter, after) as sub:
        # Sent once subscribed: from here on, every matching commit reaches this client.
        yield f"retry: {RETRY_MS}\n: subscribed after {sub.position}\n\n".encode()
        while True:
            try:
                item = await sub.next(timeout=heartbeat)
            except StopAsyncIteration:
                return
            if item is None:
                yield b": heartbeat\n\n"
                continue
            # Whatever else is already waiting goes out in the same write: live items are
            # taken in one synchronous call, their frames encoded once per event for everyone.
            chunk = [frame(item)]
            size = len(chunk[0])
            while not isinstance(item, Dropped) and size < BATCH_BYTES:
                more = sub.ready(READY_BATCH)
                if not more:
                    try:
                        next_item = await sub.next(timeout=0)  # still reading the backlog
                    except StopAsyncIteration:
                        break
                    if next_item is None:
                        break
                    more = [next_item]
                for item in more:
                    chunk.append(frame(item))
                    size += len(chunk[-1])
            yield b"".join(chunk)
            if isinstance(item, Dropped):
                return


@router.get("/events/stream", response_class=StreamingResponse)
async def stream_events(
    request: Request,
    core: Core,
    caller: EventCaller,
    types: Types = None,
    namespace: str | None = None,
    project: str | None = None,
    agent: str | None = None,
    session: str | None = None,
    after: Annotated[
        int | None, Query(ge=0, description="Start after this id (Last-Event-ID wins).")
    ] = None,
) -> StreamingResponse:
    """Server-Sent Events: every matching event as it commits, in id order, exactly once.

    Without `after` or `Last-Event-ID` the stream starts now. A resume point older than
    retention gets a `resync` event first; a client too slow for its bounded queue gets a final
    `dropped` event saying where to resume, then the stream closes.
    """
    filter = _filter(caller, types, namespace, project, agent, session)
    start = _resume_point(request.headers.get("last-event-id"), after)
    # Checked here as well as in `subscribe`, so a bad resume point is a 422, not a stream
    # that breaks after its 200 (the newest id only grows, so the early check is safe).
    if start is not None and start > (newest := await core.events.latest_id()):
        raise InvalidInput(
            f"resume point {start} is beyond the newest event id {newest}: it did not come "
            "from this server (or the database was replaced)",
            field="Last-Event-ID",
        )
    return StreamingResponse(
        _stream(core, filter, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/events")
async def read_events(
    core: Core,
    caller: EventCaller,
    types: Types = None,
    namespace: str | None = None,
    project: str | None = None,
    agent: str | None = None,
    session: str | None = None,
    after: Annotated[int, Query(ge=0, description="Return events with a larger id.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    wait: Annotated[
        float, Query(ge=0, description="Seconds to wait for an event (capped at max_wait).")
    ] = 0.0,
) -> EventPage:
    """Matching events after `after`, oldest first; pass `next_after` back next time.

    With `wait`, an empty answer is held until an event arrives or the wait ends (long-poll).
    """
    filter = _filter(caller, types, namespace, project, agent, session)
    if wait > 0:
        timeout = min(wait, core.settings.max_wait_seconds)
        return await core.events.wait(filter, after, timeout, limit=limit)
    return await core.events.read(filter, after=after, limit=limit)


def _expiry(token: str, caller: Principal) -> datetime | None:
    """An agent token's `exp` (already verified by `authenticate`); admin tokens do not expire."""
    if caller.admin:
        return None
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    exp = claims.get("exp")
    return datetime.fromtimestamp(exp, UTC) if isinstance(exp, int | float) else None


@router.post("/auth/login", tags=["auth"])
async def login(request: Request, body: Login, core: Core, response: Response) -> Whoami:
    """Check a token and keep it in an HttpOnly cookie for the event routes (EventSource)."""
    refuse_url_credentials(request)
    token = body.token.strip()
    caller = await core.authenticate_async(f"Bearer {token}")
    expires = _expiry(token, caller)
    max_age = None
    if expires is not None:
        max_age = max(0, int((expires - datetime.now(UTC)).total_seconds()))
    response.set_cookie(
        COOKIE,
        token,
        max_age=max_age,
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return Whoami(
        admin=caller.admin, agent=caller.agent, namespace=caller.namespace, expires_at=expires
    )


@router.post("/auth/logout", status_code=204, tags=["auth"])
async def logout(request: Request) -> Response:
    """Clear the login cookie (the token itself stays valid until it expires)."""
    response = Response(status_code=204)
    response.delete_cookie(
        COOKIE,
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


__all__ = ["COOKIE", "EventPage", "Resync", "router"]
