"""Bad input over HTTP: every malformed request is a 422 problem with a clear detail, and
nothing is written anywhere (every table's row count is unchanged)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.api.conftest import assert_problem
from tests.live import LiveServer
from tests.services.util import open_db, row_counts

A = {"agent": "alice"}

# (method, path, body: JSON value or raw text, substring expected in `detail` (lowercase))
Case = tuple[str, str, Any, str]

CASES: dict[str, Case] = {
    # message
    "oversize message": ("POST", "/projects/web/entries", {**A, "message": "x" * 16_385}, "16385"),
    "empty message": ("POST", "/projects/web/entries", {**A, "message": ""}, "message"),
    "blank message": ("POST", "/projects/web/entries", {**A, "message": " \n "}, "message"),
    "message not a string": ("POST", "/projects/web/entries", {**A, "message": 42}, "message"),
    "message null": ("POST", "/projects/web/entries", {**A, "message": None}, "message"),
    "NUL in message": ("POST", "/projects/web/entries", {**A, "message": "a\u0000b"}, "nul"),
    "lone surrogate": (
        "POST",
        "/projects/web/entries",
        '{"agent": "alice", "message": "half \\ud800 pair"}',
        "message",
    ),
    # meta
    "meta a list": ("POST", "/projects/web/entries", {**A, "message": "m", "meta": [1]}, "meta"),
    "meta a string": ("POST", "/projects/web/entries", {**A, "message": "m", "meta": "{}"}, "meta"),
    "meta too big": (
        "POST",
        "/projects/web/entries",
        {**A, "message": "m", "meta": {"x": "y" * 17_000}},
        "limit",
    ),
    "meta NaN": (
        "POST",
        "/projects/web/entries",
        '{"agent": "alice", "message": "m", "meta": {"x": NaN}}',
        "meta",
    ),
    "meta Infinity": (
        "POST",
        "/projects/web/entries",
        '{"agent": "alice", "message": "m", "meta": {"x": [1, -Infinity]}}',
        "meta",
    ),
    "meta 1e400": (
        "POST",
        "/projects/web/entries",
        '{"agent": "alice", "message": "m", "meta": {"x": 1e400}}',
        "meta",
    ),
    "meta huge int": (
        "POST",
        "/projects/web/entries",
        '{"agent": "alice", "message": "m", "meta": {"x": 123456789012345678901234567890}}',
        "meta",
    ),
    "meta NUL": (
        "POST",
        "/projects/web/entries",
        {**A, "message": "m", "meta": {"k": "\u0000"}},
        "nul",
    ),
    # shape
    "unknown field": (
        "POST",
        "/projects/web/entries",
        {**A, "message": "m", "colour": "red"},
        "colour",
    ),
    "unknown field in batch": (
        "POST",
        "/projects/web/entries",
        {**A, "entries": [{"message": "m", "colour": "red"}]},
        "colour",
    ),
    "message and entries": (
        "POST",
        "/projects/web/entries",
        {**A, "message": "m", "entries": [{"message": "m"}]},
        "either",
    ),
    "neither message nor entries": ("POST", "/projects/web/entries", A, "either"),
    "empty batch": ("POST", "/projects/web/entries", {**A, "entries": []}, "entry"),
    "batch too large": (
        "POST",
        "/projects/web/entries",
        {**A, "entries": [{"message": "m"}] * 1_001},
        "1000",
    ),
    "entries not a list": (
        "POST",
        "/projects/web/entries",
        {**A, "entries": {"message": "m"}},
        "entries",
    ),
    "bad status": (
        "POST",
        "/projects/web/entries",
        {**A, "message": "m", "status": "fatal"},
        "status",
    ),
    "bad kind": ("POST", "/projects/web/entries", {**A, "message": "m", "kind": "Not OK"}, "kind"),
    "not JSON": ("POST", "/projects/web/entries", "message=hello", "json"),
    "truncated JSON": (
        "POST",
        "/projects/web/entries",
        '{"agent": "alice", "message": "m"',
        "json",
    ),
    "JSON array body": ("POST", "/projects/web/entries", [{"message": "m"}], "body"),
    "no body": ("POST", "/projects/web/entries", None, "body"),
    # names
    "bad project in path": (
        "POST",
        "/projects/bad%20name/entries",
        {**A, "message": "m"},
        "project",
    ),
    "project starting with dot": (
        "POST",
        "/projects/.hidden/entries",
        {**A, "message": "m"},
        "project",
    ),
    "bad agent": (
        "POST",
        "/projects/web/entries",
        {"agent": "bad agent!", "message": "m"},
        "agent",
    ),
    "agent too long": (
        "POST",
        "/projects/web/entries",
        {"agent": "a" * 129, "message": "m"},
        "agent",
    ),
    "bad namespace": ("GET", "/../Bad_NS/projects", None, "namespace"),
    # context
    "context bad project": ("PUT", "/agents/alice/context", {"project": "no/slash"}, "project"),
    "context project missing": ("PUT", "/agents/alice/context", {}, "project"),
    "context version a string": (
        "PUT",
        "/agents/alice/context",
        {"project": "web", "expected_version": "one"},
        "expected_version",
    ),
    "context version negative": (
        "PUT",
        "/agents/alice/context",
        {"project": "web", "expected_version": -1},
        "expected_version",
    ),
    "context create a string": (
        "PUT",
        "/agents/alice/context",
        {"project": "web", "create": "maybe"},
        "create",
    ),
    "context bad agent in path": (
        "PUT",
        "/agents/bad%20agent/context",
        {"project": "web"},
        "agent",
    ),
    # projects and sessions
    "project bad name": ("POST", "/projects", {"name": "has space"}, "project"),
    "project description too long": (
        "POST",
        "/projects",
        {"name": "ok", "description": "d" * 4097},
        "description",
    ),
    "project NUL description": (
        "POST",
        "/projects",
        {"name": "ok", "description": "a\u0000"},
        "description",
    ),
    "session metadata NaN": (
        "POST",
        "/sessions",
        '{"agent": "alice", "metadata": {"x": NaN}}',
        "meta",
    ),
    "session metadata not an object": (
        "POST",
        "/sessions",
        {"agent": "alice", "metadata": 3},
        "metadata",
    ),
    "session unknown field": ("POST", "/sessions", {"agent": "alice", "ttl": 5}, "ttl"),
    "sessions limit zero": ("GET", "/sessions?limit=0", None, "limit"),
    "sessions limit huge": ("GET", "/sessions?limit=100000", None, "limit"),
    "sessions bad status": ("GET", "/sessions?status=zombie", None, "status"),
    "sessions agent NUL": ("GET", "/sessions?agent=%00", None, "nul"),
    "session id NUL": ("GET", "/sessions/%00", None, "nul"),
    "heartbeat session id NUL": ("POST", "/sessions/a%00b/heartbeat", {"agent": "alice"}, "nul"),
    "append session id NUL": (
        "POST",
        "/projects/web/entries",
        {**A, "message": "m", "session_id": "\u0000"},
        "nul",
    ),
    "context session id NUL": (
        "PUT",
        "/agents/alice/context",
        {"project": "web", "session_id": "x\u0000"},
        "nul",
    ),
    "parent session id NUL": ("POST", "/sessions", {**A, "parent_id": "\u0000"}, "nul"),
    "token ttl too short": (
        "POST",
        "/tokens",
        {"agent": "alice", "ttl_seconds": 10},
        "ttl_seconds",
    ),
    "token bad agent": ("POST", "/tokens", {"agent": "no spaces please"}, "agent"),
    # reading
    "recent limit zero": ("GET", "/projects/web/entries?limit=0", None, "limit"),
    "recent limit huge": ("GET", "/projects/web/entries?limit=100000", None, "limit"),
    "recent limit not a number": ("GET", "/projects/web/entries?limit=ten", None, "limit"),
    "recent malformed cursor": ("GET", "/projects/web/entries?cursor=%25%25%25", None, "cursor"),
    "recent cursor not base64 json": (
        "GET",
        "/projects/web/entries?cursor=bm90IGpzb24",
        None,
        "cursor",
    ),
    # query
    "query malformed cursor": ("POST", "/entries/query", {"cursor": "!!"}, "cursor"),
    "query negative cursor": ("POST", "/entries/query", {"cursor": "eyJwIjogLTF9"}, "cursor"),
    "query invalid regex": ("POST", "/entries/query", {"regex": "(unclosed"}, "regex"),
    "query regex too long": ("POST", "/entries/query", {"regex": "a" * 257}, "regex"),
    "query since naive": ("POST", "/entries/query", {"since": "2024-01-01T00:00:00"}, "timezone"),
    "query until naive": ("POST", "/entries/query", {"until": "2024-01-01T00:00:00"}, "timezone"),
    "query since garbage": ("POST", "/entries/query", {"since": "yesterday"}, "since"),
    "query limit zero": ("POST", "/entries/query", {"limit": 0}, "limit"),
    "query limit too big": ("POST", "/entries/query", {"limit": 501}, "limit"),
    "query seq_min zero": ("POST", "/entries/query", {"seq_min": 0}, "seq_min"),
    "query bad order": ("POST", "/entries/query", {"order": "sideways"}, "order"),
    "query bad status": ("POST", "/entries/query", {"status": ["nope"]}, "status"),
    "query status not a list": ("POST", "/entries/query", {"status": 5}, "status"),
    "query text no words": ("POST", "/entries/query", {"text": "!!! ..."}, "text"),
    "query meta object value": ("POST", "/entries/query", {"meta": {"k": {"a": 1}}}, "meta"),
    "query meta bad key": ("POST", "/entries/query", {"meta": {"no spaces": 1}}, "meta"),
    "query bad project": ("POST", "/entries/query", {"projects": ["a b"]}, "project"),
    "query unknown field": ("POST", "/entries/query", {"colour": "red"}, "colour"),
    "query agent NUL": ("POST", "/entries/query", {"agent": "a\u0000"}, "nul"),
    "query session NUL": ("POST", "/entries/query", {"session_id": "\u0000"}, "nul"),
    "query kind NUL": ("POST", "/entries/query", {"kind": "k\u0000"}, "nul"),
    "query meta value NUL": ("POST", "/entries/query", {"meta": {"k": "v\u0000"}}, "nul"),
}


async def _send(client: httpx.AsyncClient, method: str, path: str, body: Any) -> httpx.Response:
    if body is None:
        return await client.request(method, path)
    if isinstance(body, str):
        return await client.request(
            method, path, content=body.encode(), headers={"content-type": "application/json"}
        )
    return await client.request(
        method,
        path,
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )


async def test_bad_input_is_a_clear_422_and_writes_nothing(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(
        base_url=live_server.api(), headers=live_server.headers, timeout=30
    ) as client:
        assert (await client.post("/projects", json={"name": "web"})).status_code == 201
        r = await client.put("/agents/alice/context", json={"project": "web"})
        assert r.status_code == 200
        assert (
            await client.post("/projects/web/entries", json={**A, "message": "one"})
        ).status_code == 201
        async with open_db(live_server.settings) as db:
            before = await row_counts(db)
            wrong: list[tuple[str, int, str]] = []
            for name, (method, path, body, needle) in CASES.items():
                r = await _send(client, method, path, body)
                after = await row_counts(db)
                if after != before:
                    wrong.append((name, r.status_code, f"wrote something: {after}"))
                    before = after
                if r.status_code != 422:
                    wrong.append((name, r.status_code, r.text[:300]))
                    continue
                problem = assert_problem(r, 422, "invalid_input")
                if needle not in problem["detail"].lower():
                    wrong.append((name, 422, problem["detail"]))
            assert wrong == [], "\n".join(map(str, wrong))
        # The journal is intact and still one entry long.
        report = (await client.get("/projects/web/verify")).json()
        assert report["ok"] and report["size"] == 1


async def test_deep_nesting_is_refused_and_allowed_nesting_round_trips(
    live_server: LiveServer,
) -> None:
    """Nothing may be stored that the API cannot send back: meta nests at most 64 levels."""
    async with httpx.AsyncClient(
        base_url=live_server.api(), headers=live_server.headers, timeout=30
    ) as client:
        assert (await client.post("/projects", json={"name": "web"})).status_code == 201

        def nested(arrays: int) -> str:  # the meta object itself is level 1
            meta = '{"x": ' + "[" * arrays + "]" * arrays + "}"
            return '{"agent": "alice", "message": "m", "meta": ' + meta + "}"

        async with open_db(live_server.settings) as db:
            before = await row_counts(db)
            for arrays in (64, 200, 900):
                r = await _send(client, "POST", "/projects/web/entries", nested(arrays))
                detail = assert_problem(r, 422, "invalid_input")["detail"]
                assert "64" in detail and "deep" in detail, detail
            for arrays in (3_000, 100_000):  # beyond what the JSON parser takes at all
                r = await _send(client, "POST", "/projects/web/entries", nested(arrays))
                assert r.status_code in (400, 422), (arrays, r.status_code)
                assert r.headers["content-type"].startswith("application/problem+json")
                assert r.json()["detail"]
            assert await row_counts(db) == before
        r = await _send(client, "POST", "/projects/web/entries", nested(63))
        assert r.status_code == 201, r.text
        page = (await client.get("/projects/web/entries")).json()
        assert page["entries"][0]["meta"] == json.loads(nested(63))["meta"]
        assert (await client.get("/projects/web/verify")).json()["ok"]
