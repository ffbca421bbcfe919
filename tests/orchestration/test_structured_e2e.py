"""End to end: a real server, the real `roundtable runner` loop and the `script` executor playing
an agent (real subprocesses) that answers wrong then right, or always wrong."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from roundtable.runner.process import Runner, RunnerConfig
from tests.live import LiveServer

AGENT = r"""
import json, sys
data = json.load(sys.stdin)
with open(sys.argv[1], "a") as log:
    log.write(json.dumps(data) + "\n")
if sys.argv[2] == "fix" and "retry" in data:
    print("Fixed it:\n```json\n" + json.dumps({"title": "ok", "tags": ["a"]}) + "\n```")
else:
    print("Here you go: " + json.dumps({"title": 7, "tags": "a", "extra": True}))
"""

SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "tags": {"type": "array"}},
    "required": ["title", "tags"],
    "additionalProperties": False,
}
LINES = [
    "$: Additional properties are not allowed ('extra' was unexpected)",
    "$.tags: 'a' is not of type 'array'",
    "$.title: 7 is not of type 'string'",
]


async def run_agent(
    live_server: LiveServer, tmp_path: Path, mode: str, retries: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    log = tmp_path / "inputs.jsonl"
    ns = live_server.api()
    async with httpx.AsyncClient(headers=live_server.headers, timeout=30) as http:
        r = await http.post(f"{ns}/schemas", json={"name": "card", "schema": SCHEMA})
        assert r.status_code == 201, r.text
        spec = {
            "name": "writer",
            "executor": {
                "kind": "script",
                "config": {"command": [sys.executable, str(script), str(log), mode]},
            },
            "output_schema": "card",
            "output_retries": retries,
        }
        r = await http.put(f"{ns}/blueprints/writer", json=spec)
        assert r.status_code == 201, r.text
        config = RunnerConfig(
            url=live_server.url,
            token=live_server.admin_token,
            name="e2e",
            executors=("script",),
            poll_wait=1.0,
            grace_seconds=5.0,
        )
        runner = Runner(config)
        task = asyncio.create_task(runner.run())
        try:
            r = await http.post(
                f"{ns}/agent-sessions",
                json={"blueprint": "writer", "parameters": {"prompt": "Write a card."}},
            )
            assert r.status_code == 201, r.text
            session_id = r.json()["id"]
            for _ in range(600):
                result = (await http.get(f"{ns}/sessions/{session_id}/result")).json()
                if result["status"] in ("idle", "failed"):
                    break
                await asyncio.sleep(0.05)
        finally:
            runner.request_stop()
            await asyncio.wait_for(task, 30)
    inputs = [json.loads(line) for line in log.read_text().splitlines()]
    return result, inputs


@pytest.mark.slow
async def test_wrong_then_right_one_retry_succeeds(live_server: LiveServer, tmp_path: Path) -> None:
    result, inputs = await run_agent(live_server, tmp_path, "fix", retries=2)
    assert result["status"] == "idle", result
    assert result["result_data"] == {"title": "ok", "tags": ["a"]}
    assert result["validation"] == {"schema": "card@1", "valid": True, "attempts": 2, "errors": []}
    first, retry = inputs
    # a non-native executor: the schema instructions are appended to the prompt
    assert first["prompt"].startswith("Write a card.\n\nReply with a single JSON value")
    assert "card@1" in first["prompt"]
    assert retry["retry"]["errors"] == LINES
    assert "\n".join(LINES) in retry["prompt"]


@pytest.mark.slow
async def test_always_wrong_fails_after_the_limit_with_every_error(
    live_server: LiveServer, tmp_path: Path
) -> None:
    result, inputs = await run_agent(live_server, tmp_path, "never", retries=2)
    assert len(inputs) == 3  # the answer and two retries
    assert result["status"] == "failed"
    error = result["error"]
    assert error["code"] == "output_invalid"
    assert [f"{e['path']}: {e['message']}" for e in error["errors"]] == LINES
    assert [a["valid"] for a in error["attempts"]] == [False, False, False]
    assert error["output"].startswith("Here you go: ")
    assert result["validation"]["valid"] is False and result["validation"]["attempts"] == 3
