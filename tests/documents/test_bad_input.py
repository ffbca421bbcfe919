"""Bad input is refused with a clear error and writes nothing at all (every table compared)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from roundtable.config import Settings
from tests.api.conftest import assert_problem
from tests.live import LiveServer
from tests.mcp.harness import snapshot


def _post(server: LiveServer, path: str, body: Any, ns: str = "default") -> httpx.Response:
    """POST `body` as ASCII JSON (a lone surrogate travels as a `\\ud800` escape)."""
    return httpx.post(
        f"{server.api(ns)}/documents{path}",
        content=json.dumps(body),
        headers={**server.headers, "content-type": "application/json"},
    )


def test_bad_input_changes_nothing(settings: Settings, live_server: LiveServer) -> None:
    server = live_server
    limit = settings.document_max_bytes
    docs = {}
    for name in ("parent", "child", "grandchild"):
        r = _post(server, "", {"name": name, "content": f"{name} text"})
        assert r.status_code == 201, r.text
        docs[name] = r.json()["id"]
    r = _post(server, "", {"name": "elsewhere", "content": "x"}, ns="other")
    foreign = r.json()["id"]
    for upper, lower in (("parent", "child"), ("child", "grandchild")):
        r = _post(
            server, f"/{docs[upper]}/relations", {"other": docs[lower], "kind": "parent-child"}
        )
        assert r.status_code == 200, r.text
    session = httpx.post(
        f"{server.api()}/sessions", json={"agent": "a"}, headers=server.headers
    ).json()["id"]
    tree_doc = _post(server, "", {"name": "t", "content": "t", "session_id": session}).json()["id"]
    tree_token = httpx.post(
        f"{server.api()}/tokens",
        json={"agent": "b", "scope": {"root_session": "01a228ea-0000-7000-8000-000000000000"}},
        headers=server.headers,
    )
    assert tree_token.status_code == 404, tree_token.text  # a scope names an existing session
    before = asyncio.run(snapshot(settings))

    bad: list[tuple[str, Any, int, str, str]] = [
        ("", {"name": "big", "content": "x" * (limit + 1)}, 422, "invalid_input", "limit"),
        ("", {"name": "big", "content": "é" * (limit // 2 + 1)}, 422, "invalid_input", "bytes"),
        ("", {"name": "s", "content": "\ud800"}, 422, "invalid_input", "Unicode"),
        ("", {"name": "s", "content": "a\x00b"}, 422, "invalid_input", "NUL"),
        ("", {"name": "s", "content": "c", "colour": "red"}, 422, "invalid_input", "colour"),
        ("", {"name": " s", "content": "c"}, 422, "invalid_input", "name"),
        (
            "",
            {"name": "s", "content": "{", "content_type": "application/json"},
            422,
            "invalid_input",
            "JSON",
        ),
        ("", {"name": "s", "content": "c", "tags": ["no spaces"]}, 422, "invalid_input", "tag"),
        ("", {"name": "s", "content": "c", "lifecycle": "temporal"}, 422, "invalid_input", "tree"),
        ("", {"name": "parent", "content": "c", "expected_version": 0}, 409, "conflict", "version"),
        (
            f"/{docs['grandchild']}/relations",
            {"other": docs["parent"], "kind": "parent-child"},
            422,
            "invalid_input",
            "cycle",
        ),
        (f"/{docs['parent']}/relations", {"other": docs["parent"]}, 422, "invalid_input", "itself"),
        (f"/{docs['parent']}/relations", {"other": foreign}, 404, "not_found", "document"),
        (
            f"/{docs['parent']}/relations",
            {"other": docs["child"], "kind": "sibling"},
            422,
            "invalid_input",
            "kind",
        ),
        (f"/{docs['parent']}/relations", {"other": "missing-name"}, 404, "not_found", "document"),
        (f"/{tree_doc}/lifecycle", {"lifecycle": "frozen"}, 422, "invalid_input", "lifecycle"),
    ]
    for path, body, status, code, words in bad:
        body_ = assert_problem(_post(server, path, body), status, code)
        assert words.lower() in str(body_).lower(), (body, body_)
    # Invalid UTF-8 bytes and invalid JSON never reach the service.
    raw = b'{"name": "s", "content": "\xff\xfe"}'
    r = httpx.post(
        f"{server.api()}/documents",
        content=raw,
        headers={**server.headers, "content-type": "application/json"},
    )
    assert r.status_code == 400 and "parsing the body" in r.text, r.text
    patch = [
        ({"old": "zzz", "new": "x"}, "does not occur"),
        ({"old": "t", "new": "x", "offset": 1}, "either"),
        ({"offset": 10_000, "new": "x"}, "outside"),
        ({"offset": 0, "new": "x" * (limit + 1)}, "limit"),
        ({"offset": 0, "new": "x", "expected_version": 7}, "version"),
        ({"offset": 0, "new": "x", "unknown": 1}, "unknown"),
    ]
    for body, words in patch:
        r = httpx.patch(
            f"{server.api()}/documents/{docs['parent']}", json=body, headers=server.headers
        )
        assert r.status_code in (409, 422), r.text
        assert words in r.text, (body, r.text)
    assert asyncio.run(snapshot(settings)) == before
