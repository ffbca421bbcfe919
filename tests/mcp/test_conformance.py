"""Conformance with the official MCP clients: the TypeScript SDK and the Python SDK (D17).

One plan of calls runs through each client over each transport (stdio, Streamable HTTP, and
the stdio bridge `roundtable mcp --url` in a minimal client environment):
list the tools, call each tool once, then trigger every error code. What each client surfaces
must carry the result, or for an error its stable `code` and recovery data. Most MCP clients
(MCP Inspector, Claude Code, ...) are built on the TypeScript SDK, which checks
`structuredContent` against the tool's output schema even on error results, so this is where
an error encoding that only the Python SDK reads would show.

The TypeScript client is tests/mcp/ts/conformance.mjs, run with the machine's `node` and the
SDK version pinned in tests/mcp/ts/package-lock.json (`.ci/run` installs it with `npm ci`).
Without node or that install the TypeScript half is skipped, except under CI=true, where it
fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from roundtable.config import Settings
from tests import live
from tests.live import LiveServer, env_for, roundtable_exe
from tests.mcp import harness

TS_DIR = Path(__file__).parent / "ts"
#: A small write budget, so the plan can run into `rate_limited`; it never refills meanwhile.
LIMITS = {"write_burst": 25, "write_rate_per_second": 0.001}
CORE_TOOLS = set(harness.READ_ONLY) | {"rotate_journal"}

#: Every tool once, then every error code. `${name}` is a value saved by an earlier step.
STEPS: list[dict[str, Any]] = [
    {
        "tool": "start_session",
        "arguments": {"metadata": {"by": "conformance"}},
        "save": {"session": "id"},
    },
    {"tool": "heartbeat", "arguments": {"session_id": "${session}"}},
    {
        "tool": "set_project",
        "arguments": {"project": "web", "create": True, "session_id": "${session}"},
    },
    {"tool": "get_project", "arguments": {}},
    {"tool": "list_projects", "arguments": {}},
    {
        "tool": "append_entry",
        "arguments": {"message": "hello", "meta": {"n": 1}, "session_id": "${session}"},
    },
    {
        "tool": "append_entry",
        "arguments": {"entries": [{"message": "two"}, {"message": "three", "status": "warn"}]},
    },
    {"tool": "read_recent", "arguments": {"limit": 2}},
    {
        "tool": "query_entries",
        "arguments": {"text": "hello", "status": ["info"], "order": "oldest"},
    },
    {"tool": "verify_journal", "arguments": {}},
    {"tool": "get_proof", "arguments": {"seq": 1, "old_size": 1}},
    {"tool": "wait_for_events", "arguments": {"timeout": 0, "types": ["journal.*"]}},
    {"tool": "rotate_journal", "arguments": {}},
    {"tool": "end_session", "arguments": {"session_id": "${session}"}},
    # Errors, each with what the model needs to recover.
    {"tool": "set_project", "arguments": {"project": "web", "expected_version": 99}},
    {"tool": "append_entry", "arguments": {"message": "late", "session_id": "${session}"}},
    {"tool": "append_entry", "arguments": {"message": "lost", "project": "nowhere"}},
    {"tool": "set_project", "arguments": {"project": "web", "expected_verison": 1}},
    {"tool": "no_such_tool", "arguments": {}},
]
#: How each transport meets `permission_denied`: over HTTP the token fixes the agent; over stdio
#: (the local process acts for whoever it names) a session belongs to its own agent.
PERMISSION_STEPS: dict[str, list[dict[str, Any]]] = {
    "http": [{"tool": "get_project", "arguments": {"agent": "bob"}}],
    "bridge": [{"tool": "get_project", "arguments": {"agent": "bob"}}],
    "stdio": [
        {"tool": "start_session", "arguments": {"agent": "bob"}, "save": {"bob": "id"}},
        {"tool": "heartbeat", "arguments": {"session_id": "${bob}"}},
    ],
}
RATE_STEP = {"tool": "append_entry", "arguments": {"message": "spam"}, "until_error": 60}


def plan_steps(transport: str) -> list[dict[str, Any]]:
    return [*STEPS, *PERMISSION_STEPS[transport], RATE_STEP]


def check(outcome: dict[str, Any], transport: str) -> None:
    """What the client surfaced, step by step, as the plan expects."""
    assert set(outcome["tools"]) >= CORE_TOOLS, outcome["tools"]
    steps = outcome["steps"]
    assert len(steps) == len(plan_steps(transport))
    for step in steps:
        assert "thrown" not in step, f"{step['tool']}: the client threw {step['thrown']}"
    calls, errors = steps[: len(STEPS) - 5], steps[len(STEPS) - 5 :]
    for step in calls:
        assert not step["isError"], step
        structured = step["structuredContent"]
        assert structured is not None and json.loads(step["text"][0]) == structured, step
    assert calls[5]["structuredContent"]["first_seq"] == 1
    assert calls[9]["structuredContent"]["ok"] is True
    assert calls[13]["structuredContent"]["status"] == "finished"

    def error(step: dict[str, Any]) -> dict[str, Any]:
        assert step["isError"] is True, step
        assert step["structuredContent"] is None, step  # D17: the error is text only
        found: dict[str, Any] = json.loads(step["text"][0])["error"]
        assert found["message"], found
        return found

    conflict, lease, missing, typo, unknown, *rest = errors[:5] + errors[5:]
    found = error(conflict)
    assert found["code"] == "conflict" and found["data"]["current_version"] == 1
    assert found["data"]["current_project"] == "web"
    found = error(lease)
    assert found["code"] == "lease_expired" and found["data"]["status"] == "finished"
    found = error(missing)
    assert found["code"] == "not_found"
    found = error(typo)
    assert found["code"] == "invalid_input" and found["data"]["field"] == "expected_verison"
    assert "expected_version" in found["data"]["allowed"]
    found = error(unknown)
    assert found["code"] == "not_found" and found["data"]["tool"] == "no_such_tool"
    assert "append_entry" in found["data"]["tools"]
    denied = error(rest[-2])
    assert denied["code"] == "permission_denied"
    assert denied["data"] == ({"agent": "bob"} if transport != "stdio" else denied["data"])
    if transport == "stdio":
        assert denied["data"]["session_id"]
    limited = rest[-1]
    assert limited["calls"] > 1, "the write budget ran out too early"
    found = error(limited)
    assert found["code"] == "rate_limited" and found["data"]["retry_after"] > 0


# ---------------------------------------------------------------------------------------------
# The two clients


def _ts_ready() -> str | None:
    """Why the TypeScript client cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (TS_DIR / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir():
        return f"the TypeScript SDK is not installed: run `npm ci` in {TS_DIR}"
    return None


@pytest.fixture
def ts_client() -> str:
    reason = _ts_ready()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"TypeScript conformance cannot run under CI: {reason}")
        pytest.skip(reason)
    return str(shutil.which("node"))


async def run_typescript(
    node: str, connect: dict[str, Any], steps: list[dict[str, Any]], tmp: Path
) -> dict[str, Any]:
    plan = tmp / "plan.json"
    plan.write_text(json.dumps({"connect": connect, "steps": steps}))
    proc = await asyncio.create_subprocess_exec(
        node,
        str(TS_DIR / "conformance.mjs"),
        str(plan),
        cwd=TS_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 240)
    assert proc.returncode == 0, stderr.decode()
    outcome: dict[str, Any] = json.loads(stdout)
    return outcome


async def run_python(client: Client, steps: list[dict[str, Any]]) -> dict[str, Any]:
    saved: dict[str, Any] = {}

    def substitute(value: Any) -> Any:
        if isinstance(value, str):
            return re.sub(r"\$\{(\w+)\}", lambda m: str(saved[m.group(1)]), value)
        if isinstance(value, list):
            return [substitute(item) for item in value]
        if isinstance(value, dict):
            return {key: substitute(item) for key, item in value.items()}
        return value

    async def once(step: dict[str, Any]) -> dict[str, Any]:
        try:
            result = await client.call_tool(step["tool"], substitute(step["arguments"]))
        except Exception as exc:  # what a Python SDK client would show instead
            return {"thrown": repr(exc)}
        return {
            "isError": bool(result.is_error),
            "structuredContent": result.structured_content,
            "text": [block.text for block in result.content if block.type == "text"],
        }

    listed = await client.list_tools()
    out: dict[str, Any] = {"tools": [tool.name for tool in listed.tools], "steps": []}
    for step in steps:
        outcome = await once(step)
        calls = 1
        while step.get("until_error") and not outcome.get("isError") and "thrown" not in outcome:
            if calls >= step["until_error"]:
                break
            outcome = await once(step)
            calls += 1
        for name, field in step.get("save", {}).items():
            saved[name] = (outcome.get("structuredContent") or {}).get(field)
        out["steps"].append({"tool": step["tool"], "calls": calls, **outcome})
    return out


# ---------------------------------------------------------------------------------------------
# The servers


@pytest.fixture
def limited(settings: Settings) -> Settings:
    return settings.model_copy(update=LIMITS)


@pytest.fixture
def limited_server(limited: Settings) -> Iterator[LiveServer]:
    with live.in_thread(limited) as server:
        yield server


def stdio_env(settings: Settings) -> dict[str, str]:
    return env_for(
        settings,
        ROUNDTABLE_AGENT="alice",
        **{f"ROUNDTABLE_{key.upper()}": str(value) for key, value in LIMITS.items()},
    )


Opener = Callable[[], "AsyncIterator[Client]"]


def bridge_command(server: LiveServer, tmp: Path) -> tuple[list[str], dict[str, str]]:
    """`roundtable mcp --url` to `server` as alice, in a client's minimal environment."""
    token_file = tmp / "alice.token"
    token_file.write_text(harness.mint_token(server, "alice"))
    args = ["mcp", "--url", server.url, "--token-file", str(token_file)]
    return args, {"PATH": os.environ["PATH"], "ROUNDTABLE_AGENT": "alice"}


@pytest.mark.parametrize("transport", ["stdio", "http", "bridge"])
async def test_typescript_sdk_client(
    ts_client: str,
    transport: str,
    limited: Settings,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    if transport == "stdio":
        connect: dict[str, Any] = {
            "transport": "stdio",
            "command": roundtable_exe(),
            "args": ["mcp"],
            "env": stdio_env(limited),
        }
    elif transport == "bridge":
        args, env = bridge_command(request.getfixturevalue("limited_server"), tmp_path)
        connect = {"transport": "stdio", "command": roundtable_exe(), "args": args, "env": env}
    else:
        server: LiveServer = request.getfixturevalue("limited_server")
        connect = {
            "transport": "http",
            "url": f"{server.url}/mcp",
            "token": harness.mint_token(server, "alice"),
        }
    outcome = await run_typescript(ts_client, connect, plan_steps(transport), tmp_path)
    assert outcome["server"]["name"] == "roundtable"
    assert "prompts" not in outcome["capabilities"]  # none offered, none advertised
    check(outcome, transport)


@pytest.mark.parametrize("transport", ["stdio", "http", "bridge"])
async def test_python_sdk_client(
    transport: str,
    limited: Settings,
    stderr_log: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    @asynccontextmanager
    async def connected() -> AsyncIterator[Client]:
        if transport == "stdio":
            env = {k: v for k, v in stdio_env(limited).items() if k.startswith("ROUNDTABLE_")}
            env.pop("ROUNDTABLE_AGENT")
            async with harness.stdio(limited, "alice", stderr_log, **env) as client:
                yield client
        elif transport == "bridge":
            args, minimal = bridge_command(request.getfixturevalue("limited_server"), tmp_path)
            params = StdioServerParameters(command=roundtable_exe(), args=args, env=minimal)
            with stderr_log.open("a") as errlog:
                async with Client(
                    stdio_client(params, errlog=errlog), read_timeout_seconds=harness.TIMEOUT
                ) as client:
                    yield client
        else:
            server: LiveServer = request.getfixturevalue("limited_server")
            async with harness.http(server, harness.mint_token(server, "alice")) as client:
                yield client

    async with connected() as client:
        outcome = await run_python(client, plan_steps(transport))
    check(outcome, transport)
