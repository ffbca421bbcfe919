"""The OpenAPI document is built once, in a worker thread, not on the event loop: a first
request for it used to stall every other request for the few hundred milliseconds it takes."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
from fastapi import FastAPI

from roundtable.api.app import create_app
from roundtable.config import Settings


async def test_the_document_is_built_once_off_the_loop(settings: Settings) -> None:
    app: FastAPI = create_app(settings, sweeper=False)
    build = app.openapi
    builders: list[threading.Thread] = []

    def counted() -> dict[str, Any]:
        builders.append(threading.current_thread())
        return build()

    app.openapi = counted  # type: ignore[method-assign]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
    ) as client:
        first = await asyncio.gather(*(client.get("/openapi.json") for _ in range(5)))
        again = await client.get("/openapi.json")
    assert {r.status_code for r in [*first, again]} == {200}
    assert {r.headers["content-type"] for r in first} == {"application/json"}
    assert len({r.content for r in [*first, again]}) == 1
    document = again.json()
    assert document == build()
    assert "/api/v1/namespaces/{namespace}/projects/{project}/entries" in document["paths"]
    assert len(builders) == 1, "the document is built once, whoever asks first"
    assert builders[0] is not threading.main_thread(), "built in a worker thread"
