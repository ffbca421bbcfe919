"""What every dashboard page shares: templates, the signed-in caller, CSRF, cursors, errors.

Sign-in keeps the token in the same HttpOnly, SameSite=Strict cookie the event stream reads
(`api.events.COOKIE`), with path `/` so the pages and `/api/v1/events/stream` both get it. Forms
that write carry a CSRF token that must equal a second HttpOnly cookie set at sign-in
(double-submit; SameSite=Strict already keeps other sites' forms out, this is the second lock).
A page error renders as HTML with the status the API would answer (errors.py), never a 500.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from roundtable.api.events import COOKIE, refuse_url_credentials
from roundtable.auth.tokens import Principal
from roundtable.dashboard.markdown import render_markdown
from roundtable.errors import InvalidInput, PermissionDenied, RoundtableError, Unauthenticated
from roundtable.events.catalogue import CATALOGUE
from roundtable.runtime import Roundtable

HERE = Path(__file__).parent
CSRF_COOKIE = "roundtable_csrf"
#: Rows per page of every list.
PAGE = 50

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(value: datetime | None) -> Markup:
    """A time as `<time>`: UTC text without JavaScript, local and relative with it."""
    if value is None:
        return Markup("–")
    iso = value.isoformat()
    text = value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return Markup('<time datetime="{}" class="when">{}</time>').format(iso, text)


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


templates.filters["when"] = _when
templates.filters["pretty"] = _pretty
templates.filters["markdown"] = render_markdown


def core_of(request: Request) -> Roundtable:
    core: Roundtable = request.app.state.core
    return core


async def signed_in(request: Request) -> Principal:
    """The caller behind the login cookie; 401 (→ the sign-in page) without a valid one."""
    refuse_url_credentials(request)
    core = core_of(request)
    token = request.cookies.get(COOKIE)
    if not token and not core.settings.auth_disabled:
        raise Unauthenticated("sign in first")
    principal = await core.authenticate_async(f"Bearer {token}" if token else None)
    if principal.runner_id is not None:
        raise PermissionDenied("a runner token cannot use the dashboard")
    return principal


def namespace(request: Request, caller: Principal) -> str:
    """The namespace shown: `?ns=` for the admin (default the server's), an agent's own."""
    core = core_of(request)
    return caller.namespace_for(request.query_params.get("ns") or None, core.settings.namespace)


def same_origin(request: Request) -> None:
    """403 for a POST a browser sent from another origin (it says so in `Origin`)."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if origin != own:
        raise PermissionDenied(f"a form from {origin!r} may not post here")


async def form(request: Request) -> dict[str, str]:
    """The urlencoded form of a POST, after its CSRF token matched the cookie (403 if not)."""
    same_origin(request)
    fields: dict[str, str] = {}
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind == "application/x-www-form-urlencoded":
        raw = (await request.body()).decode("utf-8", errors="replace")
        fields = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
    sent = fields.pop("csrf", "")
    expected = request.cookies.get(CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise PermissionDenied("missing or wrong CSRF token: reload the page and try again")
    return fields


def new_csrf() -> str:
    return secrets.token_urlsafe(32)


def render(
    request: Request,
    template: str,
    caller: Principal | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    core = core_of(request)
    ns = namespace(request, caller) if caller is not None else None
    token = request.cookies.get(CSRF_COOKIE, "")
    # Signed in without the sign-in form (authentication disabled): the forms still need one.
    fresh = caller is not None and not token
    if fresh:
        token = new_csrf()
    html = templates.get_template(template).render(
        request=request,
        caller=caller,
        ns=ns,
        default_ns=core.settings.namespace,
        csrf=token,
        path=request.url.path,
        event_types=",".join(sorted(CATALOGUE)),
        link=lambda path, **params: link(request, path, **params),
        **context,
    )
    response = HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
    if fresh:
        set_cookie(response, request, CSRF_COOKIE, token, None)
    return response


def set_cookie(
    response: Response, request: Request, name: str, value: str, max_age: int | None
) -> None:
    """A dashboard cookie: HttpOnly, SameSite=Strict, the whole site (pages and event stream)."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


SECURITY_HEADERS = {
    # Scripts and styles only from this server: an injected <script> would not run even if
    # escaping failed somewhere.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def link(request: Request, path: str, **params: Any) -> str:
    """A dashboard URL keeping the chosen namespace; None-valued parameters are left out."""
    ns = request.query_params.get("ns")
    query = {k: v for k, v in params.items() if v not in (None, "")}
    if ns and "ns" not in query:
        query["ns"] = ns
    return f"{path}?{urlencode(query, doseq=True)}" if query else path


def redirect(request: Request, path: str, **params: Any) -> RedirectResponse:
    return RedirectResponse(link(request, path, **params), status_code=303)


def encode_cursor(position: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"k": position}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)["k"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidInput("malformed cursor: follow the page's links", field="cursor") from None
    if not isinstance(key, str):
        raise InvalidInput("malformed cursor: follow the page's links", field="cursor")
    return key


T = TypeVar("T")


def slice_page(
    items: Sequence[T], key: Callable[[T], str], cursor: str | None, limit: int = PAGE
) -> tuple[list[T], str | None]:
    """Cursor paging over a short list the service returns whole (sorted by `key`)."""
    after = decode_cursor(cursor)
    rest = [item for item in items if after is None or key(item) > after]
    page = rest[:limit]
    more = len(rest) > limit
    return page, encode_cursor(key(page[-1])) if more and page else None


class HtmlRoute(APIRoute):
    """A dashboard route: domain errors become an HTML page (sign-in page for 401)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RoundtableError as error:
                if error.http_status == 401:
                    if request.method == "GET":  # not signed in: to the sign-in page
                        return RedirectResponse("/login", status_code=303)
                    return render(request, "login.html", None, status_code=401, error=error.message)
                return render(
                    request,
                    "error.html",
                    None,
                    status_code=error.http_status,
                    error=error,
                )

        return route
