"""Structured logs: one JSON object per line with the call's ids; secrets never written."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import httpx
import pytest

from roundtable import logs, tracing
from roundtable.config import Settings
from tests import live

JWT = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlLWJ5dGVz"
ADMIN = "rt_admin_AbCdEf0123456789_-xyz"


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("roundtable.test", logging.INFO, __file__, 1, message, args, None)
    rec.__dict__.update(extra)
    return rec


def test_a_json_record_carries_the_calls_ids_and_extras() -> None:
    with tracing.call_scope():
        tracing.annotate(agent="a1", session="s1", project="p", namespace="ns")
        line = logs.JsonFormatter().format(record("appended %d", 3, status=201, method="POST"))
    body = json.loads(line)
    assert body["message"] == "appended 3"
    assert (body["level"], body["logger"]) == ("info", "roundtable.test")
    assert (body["agent"], body["session"], body["project"], body["namespace"]) == (
        "a1",
        "s1",
        "p",
        "ns",
    )
    assert (body["status"], body["method"]) == (201, "POST")
    assert tracing.ids() == {}  # the scope ended with the call


@pytest.mark.parametrize("kind", ["json", "text"])
def test_secrets_are_redacted_everywhere(kind: str) -> None:
    fmt = logs.formatter(kind)  # type: ignore[arg-type]
    try:
        raise ValueError(f"bad token={ADMIN}")
    except ValueError:
        rec = record(
            "auth %s then %s with Authorization: Bearer %s",
            ADMIN,
            JWT,
            "opaque-secret",
            url=f"/api?token={JWT}&x=1",
        )
        rec.exc_info = sys.exc_info()
        line = fmt.format(rec)
    for secret in (ADMIN, JWT, "opaque-secret", "AbCdEf0123456789"):
        assert secret not in line, line
    assert "[redacted]" in line
    assert "x=1" in line or kind == "text"  # non-secret parts stay


@pytest.mark.only_backend("sqlite")
def test_serve_logs_json_lines_and_no_token(settings: Settings, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with live.subprocess_server(
        settings,
        log,
        ROUNDTABLE_LOG_FORMAT="json",
        ROUNDTABLE_LOG_LEVEL="INFO",
        ROUNDTABLE_ACCESS_LOG="true",
    ) as server:
        token = server.admin_token
        # A careless client puts the token in the query string: the access log must not keep it.
        url = f"{server.url}/api/v1/namespaces/default/projects?token={token}"
        assert httpx.get(url, headers=server.headers).status_code == 200
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert lines, "the server logged nothing"
    bodies = [json.loads(line) for line in lines]  # every line, uvicorn's included, is JSON
    for body in bodies:
        assert {"ts", "level", "logger", "message"} <= body.keys()
    access = [b for b in bodies if b["logger"] == "uvicorn.access"]
    assert any("/api/v1/namespaces/default/projects" in b["message"] for b in access), access
    assert token not in log.read_text()
    assert token.removeprefix("rt_admin_") not in log.read_text()
