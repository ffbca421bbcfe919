"""`verify` with progress over HTTP: NDJSON lines `{"checked", "total"}`, then `{"report"}`.

A million-entry journal takes a while to verify; the CLI draws its progress bar from this
stream. The plain `GET .../verify` (api/routes.py) answers with the report alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from roundtable.api.deps import Caller, Core
from roundtable.errors import RoundtableError

router = APIRouter(prefix="/api/v1/namespaces/{namespace}/projects/{project}")


@router.get(
    "/verify/stream",
    tags=["journal"],
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
async def verify_stream(
    namespace: str,
    project: str,
    core: Core,
    caller: Caller,
    witnesses: Annotated[
        int, Query(ge=0, le=64, description="Require this many witness cosignatures.")
    ] = 0,
) -> StreamingResponse:
    """Verify the journal, streaming progress lines and then the report (see `verify`)."""
    ns = caller.namespace_for(namespace, core.settings.namespace)
    await core.journal.get_project(ns, project)  # a 404 before the stream starts
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def progress(checked: int, total: int) -> None:
        lines.put_nowait(json.dumps({"checked": checked, "total": total}) + "\n")

    async def run() -> None:
        try:
            report = await core.journal.verify(ns, project, progress=progress, witnesses=witnesses)
            lines.put_nowait(json.dumps({"report": report.model_dump(mode="json")}) + "\n")
        except RoundtableError as error:
            lines.put_nowait(json.dumps({"error": error.to_dict()}) + "\n")
        finally:
            lines.put_nowait(None)

    async def body() -> AsyncIterator[str]:
        task = asyncio.create_task(run())
        try:
            while (line := await lines.get()) is not None:
                yield line
            await task  # re-raises a database error: the stream breaks loudly
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    return StreamingResponse(body(), media_type="application/x-ndjson")
