"""Blueprints over HTTP: `NS/blueprints` (list, show, apply idempotently, delete)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from roundtable.api.bodies import bounded_body
from roundtable.api.deps import Caller, Core
from roundtable.api.versioned import check_path_name, refuse_run_token
from roundtable.orchestration.models import (
    ApplyBlueprint,
    BlueprintInfo,
    BlueprintList,
    BlueprintSpec,
)

router = APIRouter(
    prefix="/api/v1/namespaces/{namespace}/blueprints",
    tags=["blueprints"],
    dependencies=[Depends(bounded_body)],
)


@router.get("")
async def list_blueprints(namespace: str, core: Core, caller: Caller) -> BlueprintList:
    ns = caller.namespace_for(namespace, core.settings.namespace)
    return BlueprintList(blueprints=await core.orchestration.blueprints.list(ns))


@router.get("/{name}")
async def get_blueprint(namespace: str, name: str, core: Core, caller: Caller) -> BlueprintInfo:
    ns = caller.namespace_for(namespace, core.settings.namespace)
    return await core.orchestration.blueprints.get(ns, name)


@router.put("/{name}", responses={201: {"model": BlueprintInfo, "description": "Created"}})
async def apply_blueprint(
    namespace: str, name: str, body: ApplyBlueprint, response: Response, core: Core, caller: Caller
) -> BlueprintInfo:
    """Create or update; identical content is a no-op (`changed: false`). 201 when created."""
    refuse_run_token(caller, "blueprints")
    ns = caller.namespace_for(namespace, core.settings.namespace)
    check_path_name(body.name, name)
    spec = BlueprintSpec.model_validate(body.model_dump(exclude={"expected_version"}))
    info, created = await core.orchestration.blueprints.apply(ns, spec, body.expected_version)
    response.status_code = 201 if created else 200
    return info


@router.delete("/{name}", status_code=204)
async def delete_blueprint(
    namespace: str, name: str, core: Core, caller: Caller, expected_version: int | None = None
) -> None:
    refuse_run_token(caller, "blueprints")
    ns = caller.namespace_for(namespace, core.settings.namespace)
    await core.orchestration.blueprints.delete(ns, name, expected_version)
