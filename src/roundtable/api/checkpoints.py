"""Signed checkpoints over HTTP: the history, the latest (JSON or the bare signed note), sign now."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from roundtable.api.deps import Caller, Core, JournalWriter
from roundtable.journal import checkpoints
from roundtable.journal.models import Checkpoint, CheckpointPage

router = APIRouter(prefix="/api/v1/namespaces/{namespace}/projects/{project}/checkpoints")


@router.get("", tags=["audit"])
async def list_checkpoints(
    namespace: str,
    project: str,
    core: Core,
    caller: Caller,
    limit: Annotated[int, Query(ge=1)] = 50,
    cursor: str | None = None,
) -> CheckpointPage:
    """Every checkpoint of the journal, newest first; `next_cursor` pages further back."""
    ns = caller.namespace_for(namespace, core.settings.namespace)
    return await checkpoints.history(
        core.db,
        ns,
        project,
        limit=limit,
        cursor_=cursor,
        max_page=core.settings.max_page_size,
    )


@router.get(
    "/latest",
    tags=["audit"],
    response_model=Checkpoint,
    responses={200: {"content": {"text/plain": {}}}},
)
async def latest_checkpoint(
    namespace: str, project: str, request: Request, core: Core, caller: Caller
) -> Any:
    """The newest checkpoint; with `Accept: text/plain`, just its C2SP signed note."""
    ns = caller.namespace_for(namespace, core.settings.namespace)
    found = await checkpoints.latest(core.db, ns, project)
    accept = request.headers.get("accept", "")
    if "text/plain" in accept and "application/json" not in accept:
        return PlainTextResponse(found.note)
    return found


@router.post("", status_code=201, tags=["audit"])
async def sign_checkpoint(
    namespace: str, project: str, core: Core, caller: JournalWriter
) -> Checkpoint:
    """Sign the journal's head now (returns the existing one if the current key signed it)."""
    ns = caller.namespace_for(namespace, core.settings.namespace)
    return await checkpoints.sign_now(core.db, core.signer, core.settings, ns, project)
