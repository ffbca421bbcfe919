"""The schema registry on both backends: immutable versions, dedup, `$ref` across versions,
meta-schema refusal, deletion refused while used, concurrent registration, bad input."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from roundtable.errors import ConflictError, InvalidInput, NotFound
from roundtable.runtime import Roundtable
from roundtable.store import tables
from tests.orchestration.conftest import NS, blueprint

ADDRESS = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
ADDRESS_2 = {**ADDRESS, "properties": {"city": {"type": "string", "minLength": 2}}}


async def count(core: Roundtable) -> int:
    async with core.db.read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(tables.schemas)) or 0)


async def test_versions_are_immutable_and_identical_content_dedups(
    api: httpx.AsyncClient,
) -> None:
    url = f"/api/v1/namespaces/{NS}/schemas"
    first = await api.post(url, json={"name": "address", "schema": ADDRESS})
    assert first.status_code == 201, first.text
    assert first.json()["ref"] == "address@1"
    assert first.json()["uri"] == "roundtable://schemas/address@1"
    again = await api.post(url, json={"name": "address", "schema": dict(reversed(ADDRESS.items()))})
    assert (
        again.status_code == 200 and again.json()["version"] == 1
    )  # same content, key order aside
    second = await api.post(url, json={"name": "address", "schema": ADDRESS_2})
    assert second.status_code == 201 and second.json()["version"] == 2
    latest = (await api.get(f"{url}/address")).json()
    assert latest["version"] == 2 and latest["schema"] == ADDRESS_2
    assert (await api.get(f"{url}/address@1")).json()["schema"] == ADDRESS
    listed = (await api.get(url)).json()["schemas"]
    assert [(s["name"], s["latest"], s["versions"]) for s in listed] == [("address", 2, [1, 2])]
    missing = await api.get(f"{url}/address@9")
    assert missing.status_code == 404


async def test_ref_across_registry_versions_resolves_without_network(core: Roundtable) -> None:
    schemas = core.orchestration.schemas
    await schemas.register(NS, "address", ADDRESS)
    await schemas.register(NS, "address", ADDRESS_2)
    person = await schemas.register(
        NS,
        "person",
        {
            "type": "object",
            "properties": {
                "home": {"$ref": "roundtable://schemas/address@1"},
                "work": {"$ref": "roundtable://schemas/address@2#/properties/city"},
            },
        },
    )
    assert person.refs == ["address@1", "address@2"]
    from roundtable.schemas.validators import errors_of
    from roundtable.structured.outputs import validator_for

    async with core.db.read() as conn:
        validator = await validator_for(conn, NS, person.ref, person.body)
    assert errors_of(validator, {"home": {"city": "X"}, "work": "Paris"}) == []
    assert errors_of(validator, {"home": {}, "work": "P"}) == [
        {"path": "$.home", "message": "'city' is a required property"},
        {"path": "$.work", "message": "'P' is too short"},
    ]
    with pytest.raises(NotFound):  # a ref to a version that does not exist
        await schemas.register(NS, "bad", {"$ref": "roundtable://schemas/address@7"})
    with pytest.raises(InvalidInput, match="pin a version"):
        await schemas.register(NS, "bad", {"$ref": "roundtable://schemas/address"})


async def test_meta_schema_refusal_lists_the_errors(
    api: httpx.AsyncClient, core: Roundtable
) -> None:
    url = f"/api/v1/namespaces/{NS}/schemas"
    bad = await api.post(url, json={"name": "bad", "schema": {"type": "objekt", "minLength": -1}})
    assert bad.status_code == 422
    errors = bad.json()["data"]["errors"]
    assert {e["path"] for e in errors} == {"$.type", "$.minLength"}
    # draft-07 honoured through $schema: `items` as an array is valid there, not in 2020-12
    draft7 = {"$schema": "http://json-schema.org/draft-07/schema#", "items": [{"type": "string"}]}
    ok = await api.post(url, json={"name": "tuple7", "schema": draft7})
    assert (
        ok.status_code == 201 and ok.json()["dialect"] == "http://json-schema.org/draft-07/schema"
    )
    refused = await api.post(url, json={"name": "tuple", "schema": {**draft7, "$schema": None}})
    assert refused.status_code == 422
    assert await count(core) == 1


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (["not", "an", "object"], "must be a JSON object"),
        (True, "must be a JSON object"),
        ({"$schema": "https://json-schema.org/draft/2019-09/schema"}, "unknown \\$schema"),
        ({"$ref": "https://example.com/schemas/x.json"}, "never fetched"),
        ({"properties": {"a": {"$ref": "other.json#/a"}}}, "never fetched"),
        ({"$id": "roundtable://schemas/spoof@1"}, "registry address"),
        ({"description": "x" * 1_000_000}, "the limit is"),
        ({"properties": {"a": {"$ref": "#/$defs/missing"}}}, "does not resolve"),
    ],
    ids=[
        "array",
        "boolean",
        "unknown-dialect",
        "remote-ref",
        "relative-ref",
        "spoof-id",
        "1MB",
        "dangling-pointer",
    ],
)
async def test_bad_schemas_are_refused_and_nothing_is_written(
    core: Roundtable, body: Any, says: str
) -> None:
    with pytest.raises(InvalidInput, match=says):
        await core.orchestration.schemas.register(NS, "bad", body)
    assert await count(core) == 0


async def test_a_1mb_schema_over_http_is_413_and_unknown_fields_422(
    api: httpx.AsyncClient, core: Roundtable
) -> None:
    url = f"/api/v1/namespaces/{NS}/schemas"
    big = await api.post(url, json={"name": "big", "schema": {"description": "x" * 1_100_000}})
    assert big.status_code == 413
    extra = await api.post(url, json={"name": "a", "schema": {}, "version": 3})
    assert extra.status_code == 422
    assert (await api.post(url, json={"name": "no@name", "schema": {}})).status_code == 422
    assert await count(core) == 0


async def test_delete_refused_while_a_blueprint_a_pending_run_or_a_schema_names_it(
    core: Roundtable, api: httpx.AsyncClient
) -> None:
    schemas = core.orchestration.schemas
    await schemas.register(NS, "address", ADDRESS)
    await schemas.register(NS, "address", ADDRESS_2)
    await schemas.register(
        NS, "person", {"properties": {"a": {"$ref": "roundtable://schemas/address@1"}}}
    )
    await blueprint(core, "reviewer", output_schema="address@2")
    url = f"/api/v1/namespaces/{NS}/schemas"
    refused = await api.delete(f"{url}/address@1")
    assert refused.status_code == 409 and refused.json()["data"]["schemas"] == ["person@1"]
    refused = await api.delete(f"{url}/address@2")
    assert refused.status_code == 409 and refused.json()["data"]["blueprints"] == ["reviewer"]
    # a pending run naming it (the blueprint now points elsewhere)
    await blueprint(core, "reviewer", output_schema={"type": "object"})
    started = await api.post(
        f"/api/v1/namespaces/{NS}/agent-sessions",
        json={"blueprint": "reviewer", "parameters": {"prompt": "x"}, "output_schema": "address"},
    )
    assert started.status_code == 201, started.text
    refused = await api.delete(f"{url}/address@2")
    assert refused.status_code == 409 and len(refused.json()["data"]["runs"]) == 1
    await core.orchestration.trees.stop(NS, _admin(), started.json()["id"])
    deleted = await api.delete(f"{url}/address@2")
    assert deleted.status_code == 200 and deleted.json() == {"name": "address", "versions": [2]}
    assert (await api.get(f"{url}/address")).json()["version"] == 1
    # a deleted number is never reused: the next content is version 3
    assert (await schemas.register(NS, "address", {"type": "object"})).version == 3
    with pytest.raises(ConflictError):
        await schemas.delete(NS, "address")  # person@1 still refers to address@1
    # a live session on an older blueprint version that names it (its callbacks resolve it)
    await schemas.register(NS, "verdict", {"type": "object"})
    await blueprint(core, "judge", output_schema="verdict@1")
    session = await core.orchestration.trees.start(NS, _admin(), "judge", {"prompt": "x"})
    await blueprint(core, "judge", output_schema=None)
    with pytest.raises(ConflictError) as refused_by:
        await schemas.delete(NS, "verdict@1")
    assert refused_by.value.data["blueprints"] == ["judge@1"]
    await core.orchestration.trees.stop(NS, _admin(), session.id)
    assert (await schemas.delete(NS, "verdict")).versions == [1]


def _admin() -> Any:
    from roundtable.auth.tokens import ADMIN

    return ADMIN


@pytest.mark.slow
async def test_eight_concurrent_registrations_give_gap_free_versions(core: Roundtable) -> None:
    bodies = [{"type": "object", "title": f"v{i}"} for i in range(8)]
    infos = await asyncio.gather(
        *(core.orchestration.schemas.register(NS, "shared", body) for body in bodies)
    )
    assert sorted(info.version for info in infos) == list(range(1, 9))
    again = await asyncio.gather(
        *(core.orchestration.schemas.register(NS, "shared", body) for body in bodies)
    )
    assert sorted(info.version for info in again) == list(range(1, 9))
    assert not any(info.created for info in again)
    assert await count(core) == 8
