"""The command lines the agent executors build, given to the real CLIs (npm
`@anthropic-ai/claude-code`, `@openai/codex`) with no credentials: they must parse (an unknown
option is an error there) and fail only later, for want of a conversation. The CLIs are found in
`ROUNDTABLE_AGENT_CLI_BIN` (a `node_modules/.bin`), else in `tests/runner/clis` (`npm ci` there
installs the pinned versions; `.ci/run` does), else on PATH. Without them the tests are skipped
locally and fail under CI."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from roundtable.runner.executors.claude_code import claude_argv
from roundtable.runner.executors.codex import codex_argv
from tests.runner.helpers import claimed, context

PINNED = Path(__file__).with_name("clis") / "node_modules" / ".bin"
BIN = os.environ.get("ROUNDTABLE_AGENT_CLI_BIN") or (str(PINNED) if PINNED.is_dir() else None)
CONVERSATION = "0199a213-81c0-7800-8aa1-bbab2a035a53"


def find(name: str) -> str:
    found = shutil.which(name, path=BIN) if BIN else shutil.which(name)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is missing: .ci/run installs it (npm ci in tests/runner/clis)")
        pytest.skip(f"{name} is not installed (npm ci in tests/runner/clis)")
    return found


def ctx_for(kind: str, program: str):  # type: ignore[no-untyped-def]
    config = {"command": [program], "model": "sonnet", "max_turns": 3, "permission_mode": "default"}
    run = claimed(kind, config, {"prompt": "hi"})
    bp = run.blueprint.model_copy(
        update={"instructions": "Be brief.", "output_schema": {"type": "object"}}
    )
    ctx, _ = context(run.model_copy(update={"blueprint": bp}))
    ctx.mcp_urls = {"gh": "http://127.0.0.1:1/mcp/gh"}
    ctx.mcp_token = "cap"
    return ctx


def run(argv: list[str], home: Path) -> str:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home)}
    done = subprocess.run(argv, input=b"hi", env=env, capture_output=True, timeout=120)
    return (done.stdout + done.stderr).decode(errors="replace")


def test_claude_accepts_the_command_line(tmp_path: Path) -> None:
    ctx = ctx_for("claude-code", find("claude"))
    config = tmp_path / "mcp.json"
    config.write_text('{"mcpServers": {}}')
    output = run(claude_argv(ctx, str(config), CONVERSATION), tmp_path)
    assert "unknown option" not in output and "error: " not in output.lower()[:200], output
    assert '"type":"result"' in output or "No conversation found" in output, output


def test_codex_accepts_the_command_line(tmp_path: Path) -> None:
    ctx = ctx_for("codex", find("codex"))
    schema = tmp_path / "schema.json"
    schema.write_text('{"type": "object"}')
    output = run(codex_argv(ctx, str(schema), CONVERSATION), tmp_path)
    assert "unexpected argument" not in output and "Usage:" not in output, output
    assert "no rollout found" in output or "thread" in output, output
