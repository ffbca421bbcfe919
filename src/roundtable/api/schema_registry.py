"""The schema registry over HTTP: `NS/schemas` (register, list, show `NAME[@N]`, delete)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from roundtable.api.bodies import bounded_body
from roundtable.api.deps import Caller, Core
from roundtable.auth.tokens import Principal
from roundtable.errors import PermissionDenied
from roundtable.schemas.models import RegisterSchema, SchemaDeleted, SchemaInfo, SchemaList

router = APIRouter(
    prefix="/api/v1/namespaces/{namespace}/schemas",
    tags=["schemas"],
    dependencies=[Depends(bounded_body)],
)


def _writer(caller: Principal) -> None:
    if caller.scope is not None:
        raise PermissionDenied("a run token cannot change the schema registry")


@router.get("")
async def list_schemas(namespace: str, core: Core, caller: Caller) -> SchemaList:
    ns = caller.namespace_for(namespace, core.settings.namespace)
    return await core.orchestration.schemas.list(ns)


@router.post("", responses={201: {"model": SchemaInfo, "description": "A new version"}})
async def register_schema(
    namespace: str, body: RegisterSchema, response: Response, core: Core, caller: Caller
) -> SchemaInfo:
    """A new immutable version (201), or the existing one with identical content (200)."""
    _writer(caller)
    ns = caller.namespace_for(namespace, core.settings.namespace)
    info = await core.orchestration.schemas.register(ns, body.name, body.body, body.description)
    response.status_code = 201 if info.created else 200
    return info


@router.get("/{ref}")
async def get_schema(namespace: str, ref: str, core: Core, caller: Caller) -> SchemaInfo:
    """`NAME@N`, or `NAME` for the latest version."""
    ns = caller.namespace_for(namespace, core.settings.namespace)
    return await core.orchestration.schemas.get(ns, ref)


@router.delete("/{ref}")
async def delete_schema(namespace: str, ref: str, core: Core, caller: Caller) -> SchemaDeleted:
    """`NAME@N` deletes one version, `NAME` all; 409 while a blueprint, a pending or running
    run, or another schema names them."""
    _writer(caller)
    ns = caller.namespace_for(namespace, core.settings.namespace)
    return await core.orchestration.schemas.delete(ns, ref)
