"""Request dependencies: the running core and the authenticated caller."""

from __future__ import annotations

from typing import Annotated, NamedTuple

from fastapi import Depends, Request

from roundtable import tracing
from roundtable.auth.perms import require_journal_write
from roundtable.auth.tokens import Principal
from roundtable.errors import PermissionDenied
from roundtable.runtime import Roundtable


async def get_core(request: Request) -> Roundtable:
    """Async on purpose: FastAPI runs a plain `def` dependency in its thread pool (a thread
    hand-off on every request)."""
    core: Roundtable = request.app.state.core
    return core


async def get_principal(request: Request) -> Principal:
    """The authenticated caller. The core is read here rather than through `get_core`: each
    dependency costs FastAPI a resolution step on every request."""
    core: Roundtable = request.app.state.core
    principal = await core.authenticate_async(request.headers.get("authorization"))
    params = request.path_params
    tracing.annotate(
        agent=principal.agent or params.get("agent"),
        namespace=params.get("namespace") or principal.namespace,
        project=params.get("project"),
    )
    # Only runner tokens are bound to a path (building the URL costs a little on every call).
    if principal.runner_id is not None and not principal.allowed_path(request.url.path):
        raise PermissionDenied("a runner token is valid only on its own /api/v1/runners routes")
    return principal


Core = Annotated[Roundtable, Depends(get_core)]
Caller = Annotated[Principal, Depends(get_principal)]


async def get_journal_writer(request: Request) -> Principal:
    """The caller, if its token may write journals (`journal:write`); else 403. Calls
    `get_principal` itself: one dependency level fewer for FastAPI to resolve per request."""
    principal = await get_principal(request)
    require_journal_write(principal)
    return principal


#: The caller of a journal write route (create, append, checkpoint, rotate, mirror).
JournalWriter = Annotated[Principal, Depends(get_journal_writer)]


class Acting(NamedTuple):
    """The core and the authenticated caller as one dependency: FastAPI resolves each dependency
    in a step of its own on every request, and the busiest routes (append, set_project) save
    one that way (issue 16)."""

    core: Roundtable
    caller: Principal


async def get_acting(request: Request) -> Acting:
    core: Roundtable = request.app.state.core
    return Acting(core, await get_principal(request))


async def get_acting_writer(request: Request) -> Acting:
    """`get_acting` for a caller that may write journals (else 403)."""
    core: Roundtable = request.app.state.core
    return Acting(core, await get_journal_writer(request))


#: The core and the caller (`Core` and `Caller` in one dependency).
CoreCaller = Annotated[Acting, Depends(get_acting)]
#: The core and a caller that may write journals (`Core` and `JournalWriter` in one).
CoreJournalWriter = Annotated[Acting, Depends(get_acting_writer)]
