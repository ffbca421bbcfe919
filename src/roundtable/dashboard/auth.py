"""Sign-in and sign-out: a pasted token becomes the HttpOnly, SameSite=Strict login cookie."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from roundtable.api.events import COOKIE, _expiry, refuse_url_credentials
from roundtable.dashboard import web
from roundtable.errors import PermissionDenied, RoundtableError

router = APIRouter(route_class=web.HtmlRoute)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> Response:
    refuse_url_credentials(request)
    return web.render(request, "login.html", None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    """Check the token, then keep it (and a fresh CSRF token) in HttpOnly cookies."""
    refuse_url_credentials(request)
    web.same_origin(request)  # no other site may sign a browser in (login CSRF)
    core = web.core_of(request)
    raw = (await request.body()).decode("utf-8", errors="replace")
    token = (parse_qs(raw).get("token") or [""])[-1].strip()
    try:
        caller = await core.authenticate_async(f"Bearer {token}")
        if caller.runner_id is not None:
            raise PermissionDenied("a runner token cannot use the dashboard")
    except RoundtableError as error:
        return web.render(request, "login.html", None, status_code=401, error=error.message)
    expires = _expiry(token, caller)
    max_age = None
    if expires is not None:
        max_age = max(0, int((expires - datetime.now(UTC)).total_seconds()))
    response = RedirectResponse("/", status_code=303)
    web.set_cookie(response, request, COOKIE, token, max_age)
    web.set_cookie(response, request, web.CSRF_COOKIE, web.new_csrf(), max_age)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """Clear both cookies (the token stays valid until it expires). Needs the CSRF token."""
    await web.form(request)
    response = RedirectResponse("/login", status_code=303)
    secure = request.url.scheme == "https"
    for name in (COOKIE, web.CSRF_COOKIE):
        response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="strict")
    # The API's own login cookie lives under /api/v1: clear it too.
    response.delete_cookie(COOKIE, path="/api/v1", secure=secure, httponly=True, samesite="strict")
    return response
