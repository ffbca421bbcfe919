"""Blueprints (list, detail, edit with the version checked), the schema registry and runners."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from roundtable.dashboard import web
from roundtable.errors import ConflictError, InvalidInput, PermissionDenied
from roundtable.orchestration.models import BlueprintInfo, BlueprintSpec
from roundtable.runtime import Roundtable

router = APIRouter(route_class=web.HtmlRoute)


@router.get("/blueprints", response_class=HTMLResponse)
async def blueprints(request: Request) -> Response:
    caller = await web.signed_in(request)
    core = web.core_of(request)
    found = await core.orchestration.blueprints.list(web.namespace(request, caller))
    page, next_cursor = web.slice_page(
        sorted(found, key=lambda b: b.name), lambda b: b.name, request.query_params.get("cursor")
    )
    return web.render(request, "blueprints.html", caller, blueprints=page, next_cursor=next_cursor)


async def _registered(core: Roundtable, ns: str, info: BlueprintInfo) -> set[str]:
    """Which of the servers the blueprint names are in the registry (linked to their page)."""
    if not info.mcp_servers:
        return set()
    return {s.name for s in await core.orchestration.mcp_servers.list(ns)} & set(info.mcp_servers)


def _spec_text(spec: BlueprintSpec) -> str:
    return json.dumps(spec.model_dump(mode="json"), indent=2, ensure_ascii=False)


@router.get("/blueprints/{name}", response_class=HTMLResponse)
async def blueprint(request: Request, name: str) -> Response:
    caller = await web.signed_in(request)
    core = web.core_of(request)
    ns = web.namespace(request, caller)
    info = await core.orchestration.blueprints.get(ns, name)
    spec = BlueprintSpec.model_validate(info.model_dump(include=set(BlueprintSpec.model_fields)))
    return web.render(
        request,
        "blueprint.html",
        caller,
        blueprint=info,
        spec_text=_spec_text(spec),
        version=info.version,
        conflict=None,
        saved=request.query_params.get("saved"),
        registered=await _registered(core, ns, info),
    )


@router.post("/blueprints/{name}", response_class=HTMLResponse)
async def edit_blueprint(request: Request, name: str) -> Response:
    """Apply the edited spec only if the blueprint is still at the version that was loaded."""
    caller = await web.signed_in(request)
    fields = await web.form(request)
    if caller.scope is not None:
        raise PermissionDenied("a run token cannot change blueprints")
    core = web.core_of(request)
    ns = web.namespace(request, caller)
    text = fields.get("spec", "")
    try:
        version = int(fields.get("version", ""))
        spec = BlueprintSpec.model_validate({**json.loads(text), "name": name})
    except json.JSONDecodeError as error:
        raise InvalidInput(f"the spec is not JSON: {error}", field="spec") from None
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"{field}: {first['msg']}", field=field) from None
    except ValueError:
        raise InvalidInput("version must be the number the form was loaded with") from None
    try:
        await core.orchestration.blueprints.apply(ns, spec, version)
    except ConflictError as conflict:
        info = await core.orchestration.blueprints.get(ns, name)
        return web.render(
            request,
            "blueprint.html",
            caller,
            blueprint=info,
            spec_text=text,
            version=info.version,
            conflict=conflict.message,
            saved=None,
            registered=await _registered(core, ns, info),
        )
    return web.redirect(request, f"/blueprints/{name}", saved="1")


@router.get("/schemas", response_class=HTMLResponse)
async def schemas(request: Request) -> Response:
    caller = await web.signed_in(request)
    core = web.core_of(request)
    found = await core.orchestration.schemas.list(web.namespace(request, caller))
    page, next_cursor = web.slice_page(
        sorted(found.schemas, key=lambda s: s.name),
        lambda s: s.name,
        request.query_params.get("cursor"),
    )
    return web.render(request, "schemas.html", caller, schemas=page, next_cursor=next_cursor)


@router.get("/schemas/{ref}", response_class=HTMLResponse)
async def schema(request: Request, ref: str) -> Response:
    caller = await web.signed_in(request)
    core = web.core_of(request)
    info = await core.orchestration.schemas.get(web.namespace(request, caller), ref)
    return web.render(request, "schema.html", caller, schema=info)


@router.get("/runners", response_class=HTMLResponse)
async def runners(request: Request) -> Response:
    caller = await web.signed_in(request)
    core = web.core_of(request)
    found = await core.orchestration.runners.list(web.namespace(request, caller))
    page, next_cursor = web.slice_page(
        sorted(found, key=lambda r: r.id), lambda r: r.id, request.query_params.get("cursor")
    )
    return web.render(request, "runners.html", caller, runners=page, next_cursor=next_cursor)


@router.get("/runners/{runner_id}", response_class=HTMLResponse)
async def runner(request: Request, runner_id: str) -> Response:
    caller = await web.signed_in(request)
    core = web.core_of(request)
    found = [
        r
        for r in await core.orchestration.runners.list(web.namespace(request, caller))
        if r.id == runner_id
    ]
    if not found:
        from roundtable.errors import NotFound

        raise NotFound(f"no runner {runner_id} in this namespace", runner_id=runner_id)
    return web.render(request, "runner.html", caller, runner=found[0])
