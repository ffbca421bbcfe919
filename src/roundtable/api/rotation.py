"""Rotation and the Markdown mirror over HTTP (D5): thin handlers over `core.rotation` and
`core.mirrors`.

`POST .../projects/{project}/rotate` runs the rotation inside the request (a 100,000-entry
segment takes seconds; for very large ones prefer `roundtable rotate` on the server host).
Setting a mirror path is admin-only: the server writes that file, so agents must not choose it.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from roundtable.api.deps import Core, JournalWriter
from roundtable.errors import PermissionDenied
from roundtable.journal.mirror_service import MirrorInfo
from roundtable.journal.rotation import RotationResult

router = APIRouter(prefix="/api/v1/namespaces/{namespace}/projects/{project}", tags=["journal"])


class SetMirror(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(
        description="Mirror file, relative to DATA_DIR/mirrors and ending in .md (absolute only "
        "if the operator set ROUNDTABLE_MIRROR_ALLOW_ABSOLUTE); null removes the mirror."
    )


@router.post("/rotate")
async def rotate(namespace: str, project: str, core: Core, caller: JournalWriter) -> RotationResult:
    """Seal the open segment into an archive, chain a rotation entry, sign a checkpoint.
    409 if the segment is empty or another rotation of the project won."""
    ns = caller.namespace_for(namespace, core.settings.namespace)
    return await core.rotation.rotate(ns, project)


@router.put("/mirror")
async def set_mirror(
    namespace: str, project: str, body: SetMirror, core: Core, caller: JournalWriter
) -> MirrorInfo:
    """Set or clear the project's Markdown mirror (admin only) and write it from the database."""
    if not caller.admin:
        raise PermissionDenied("only the admin token can set a mirror path")
    ns = caller.namespace_for(namespace, core.settings.namespace)
    return await core.mirrors.set_mirror(ns, project, body.path)
