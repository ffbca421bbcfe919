"""Bounded request bodies: a dependency that refuses a body over `max_run_body_bytes` (413)
before it is parsed.

Every body is already bounded by `max_request_bytes` (`api/guard.py`, before authentication);
orchestration and schema bodies (blueprints, agent sessions, runner reports, schemas) are small
by nature, so they get this tighter limit.
"""

from __future__ import annotations

from fastapi import Request

from roundtable.errors import TooLarge
from roundtable.runtime import Roundtable


async def bounded_body(request: Request) -> None:
    core: Roundtable = request.app.state.core
    limit = core.settings.max_run_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"request body over {limit} bytes", limit=limit)
    body = await request.body()  # cached: the route's parser reads the same bytes
    if len(body) > limit:
        raise TooLarge(f"request body over {limit} bytes", limit=limit)
