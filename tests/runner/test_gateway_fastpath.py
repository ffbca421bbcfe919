"""The gateway's `tools/call` fast path answers exactly as the SDK's server path does: the same
requests sent with the fast path on and off get the same status and JSON-RPC body."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from roundtable.runner.gateway import Gateway, RunnerSecrets, fastpath
from tests.runner.gateway_helpers import SECRET, agent, claimed, http_upstream, stdio_entry

META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


def call(tool: str, arguments: Any, request_id: Any = 7, **params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments, "_meta": META, **params}}  # fmt: skip


CASES: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    ("ok", call("echo", {"text": "hi"}), {}),
    ("string id", call("echo", {"text": "hi"}, request_id="a-1"), {}),
    ("denied", call("delete_repo", {"name": "x"}), {}),
    ("unknown tool", call("nope", {}), {}),
    ("bad arguments", call("echo", {"text": 5}), {}),
    ("arguments not an object", call("echo", [1]), {}),
    ("no params", {"jsonrpc": "2.0", "id": 3, "method": "tools/call"}, {}),
    ("version mismatch", call("echo", {"text": "hi"}), {"mcp-protocol-version": "2025-11-25"}),
    ("unknown version", call("echo", {"text": "hi"}), {"mcp-protocol-version": "2099-01-01"}),
    ("param header", call("echo", {"text": "hi"}), {"mcp-param-text": "other"}),
    ("name header mismatch", call("echo", {"text": "hi"}), {"mcp-name": "whoami"}),
]


async def test_fast_path_answers_as_the_sdk_path(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = stdio_entry(deny_tools=["delete_*"])
    async with (
        Gateway(RunnerSecrets(env={})) as gateway,
        gateway.open_run(claimed(["files"], [entry]), _ignore) as grant,
        httpx2.AsyncClient(timeout=30) as http,
    ):
        url = grant.urls["files"]

        async def post(body: dict[str, Any], extra: dict[str, str]) -> tuple[int, Any]:
            headers = {
                "Authorization": f"Bearer {grant.token}",
                "Accept": "application/json, text/event-stream",
                "Content-Type": "application/json",
                "MCP-Protocol-Version": "2026-07-28",
                "Mcp-Method": "tools/call",
                "Mcp-Name": str((body.get("params") or {}).get("name", "")),
                **extra,
            }
            reply = await http.post(url, content=json.dumps(body), headers=headers)
            return reply.status_code, reply.json()

        taken: list[bool] = []
        real_parse = fastpath.parse

        def spy(*args: Any) -> fastpath.FastCall | None:
            found = real_parse(*args)
            taken.append(found is not None)
            return found

        monkeypatch.setattr(fastpath, "parse", spy)
        fast, path = [], {}
        for label, body, extra in CASES:
            taken.clear()
            fast.append(await post(body, extra))
            path[label] = bool(taken and taken[0])
        assert {label for label, fast_path in path.items() if fast_path} == {
            "ok", "string id", "unknown tool", "bad arguments", "param header"
        }  # fmt: skip
        monkeypatch.setattr(fastpath, "eligible", lambda *_: False)
        slow = [await post(body, extra) for _, body, extra in CASES]
    for (label, _, _), got, expected in zip(CASES, fast, slow, strict=True):
        assert got == expected, label
    assert fast[0][1]["result"]["content"][0]["text"] == "echo:hi"
    assert "not allowed" in fast[2][1]["error"]["message"]


async def test_calls_do_not_list_the_upstream_each_time() -> None:
    """The SDK checks a call's `Mcp-Param-*` headers against the tool's schema; the gateway
    answers that from the upstream's last listing instead of listing it again per call."""
    with http_upstream() as base:
        entry = {"name": "gh", "transport": "http", "url": f"{base}/mcp",
                 "auth": {"kind": "bearer", "secret": "GH_TOKEN"}}  # fmt: skip
        async with (
            Gateway(RunnerSecrets(env={"GH_TOKEN": SECRET})) as gateway,
            gateway.open_run(claimed(["gh"], [entry]), _ignore) as grant,
            agent(grant.urls["gh"], grant.token) as gh,
        ):
            for n in range(6):
                assert not (await gh.call_tool("echo", {"text": str(n)})).is_error
            seen = (await gh.call_tool("methods", {})).content[0].text.split(",")
    assert seen.count("tools/call") == 7
    assert seen.count("tools/list") <= 2, seen


async def _ignore(batch: list[dict[str, Any]]) -> None:
    return None
