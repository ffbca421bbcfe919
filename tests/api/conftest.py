"""API test helpers: servers with tuned settings, agent tokens, problem-details checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import httpx
import pytest

from roundtable.config import Settings
from tests import live
from tests.live import LiveServer

Serve = Callable[..., AbstractContextManager[LiveServer]]


@pytest.fixture
def serve(settings: Settings) -> Serve:
    """`with serve(write_burst=2) as server:` runs the app on this test's backend, settings tuned."""

    @contextmanager
    def start(**changes: Any) -> Iterator[LiveServer]:
        with live.in_thread(settings.model_copy(update=changes)) as server:
            yield server

    return start


def mint(server: LiveServer, agent: str, namespace: str = "default") -> dict[str, str]:
    """Headers carrying a fresh agent token minted through the API with the admin token."""
    r = httpx.post(f"{server.api(namespace)}/tokens", json={"agent": agent}, headers=server.headers)
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """An RFC 9457 problem with the given status and stable code; returns the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "code"} <= body.keys(), body
    assert body["status"] == status and body["code"] == code, body
    assert isinstance(body["detail"], str) and body["detail"].strip(), body
    assert body["type"].endswith(f"/{code}"), body
    return body
