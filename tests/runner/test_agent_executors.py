"""The agent executors against fake CLIs speaking the real stream formats: command lines, MCP
config pointing only at the gateway, native output schema, resume of the same conversation,
usage, failures; and the `command` executor's templates."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from roundtable.runner.executors.agent_cli import Conversations
from roundtable.runner.executors.claude_code import ClaudeCodeExecutor
from roundtable.runner.executors.codex import CodexExecutor
from roundtable.runner.executors.command import CommandExecutor
from tests.runner.helpers import claimed, context

HERE = Path(__file__).parent
CLAUDE = [sys.executable, str(HERE / "fake_claude.py")]
CODEX = [sys.executable, str(HERE / "fake_codex.py")]
SCHEMA = {"type": "object", "properties": {"answer": {"type": "integer"}}}


def records_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def ctx_for(kind: str, config: dict[str, Any], prompt: str, tmp: Path, **fields: Any):  # type: ignore[no-untyped-def]
    bp: dict[str, Any] = {"name": "bp", "instructions": "Be brief.",
                          "executor": {"kind": kind, "config": config}}  # fmt: skip
    bp.update(fields.pop("blueprint", {}))
    run = claimed(kind, config, {"prompt": prompt}, **fields)
    run = run.model_copy(update={"blueprint": type(run.blueprint).model_validate(bp)})
    ctx, recorder = context(run)
    ctx.mcp_urls = {
        "gh": "http://127.0.0.1:1/mcp/gh",
        "roundtable": "http://127.0.0.1:1/mcp/roundtable",
    }
    ctx.mcp_token = "cap-token"
    ctx.secret_names = frozenset({"GH_TOKEN"})
    return ctx, recorder


async def test_claude_code_stream_schema_resume_and_usage(tmp_path: Path, monkeypatch: Any) -> None:
    record = tmp_path / "rec.jsonl"
    monkeypatch.setenv("GH_TOKEN", "runner-secret")
    config = {"command": CLAUDE, "env": {"FAKE_RECORD": str(record)}, "model": "sonnet"}
    executor = ClaudeCodeExecutor(Conversations(tmp_path / "conv.json"))
    ctx, recorder = ctx_for("claude-code", config, "fix it", tmp_path,
                            blueprint={"output_schema": SCHEMA})  # fmt: skip
    result = await executor.execute(ctx)
    assert result.status == "completed" and result.result_data == {"answer": 42}
    assert result.usage is not None and result.usage.input_tokens == 120
    assert result.usage.cost_usd == 0.0123
    first = records_of(record)[0]
    argv = first["argv"]
    assert argv[argv.index("--allowedTools") + 1] == "mcp__gh,mcp__roundtable"
    assert json.loads(argv[argv.index("--json-schema") + 1]) == SCHEMA
    assert "--strict-mcp-config" in argv and "--resume" not in argv
    assert first["prompt"] == "fix it" and argv[argv.index("--model") + 1] == "sonnet"
    servers = first["mcp"]["mcpServers"]
    assert {n: s["url"] for n, s in servers.items()} == ctx.mcp_urls
    assert servers["gh"]["headers"] == {"Authorization": "Bearer cap-token"}
    assert "GH_TOKEN" not in first["env"] and first["env"]["ROUNDTABLE_MCP_TOKEN"] == "cap-token"
    assert ("tool_use", {"tool": "mcp__gh__echo"}) in recorder.events
    # A callback run resumes the same conversation; its input is JSON, not prose.
    session = Conversations(tmp_path / "conv.json").get("claude-code", "session-1")
    ctx, _ = ctx_for("claude-code", config, "ignored", tmp_path, run_kind="callback")
    ctx.run = ctx.run.model_copy(update={"input": {"callbacks": [{"status": "idle"}]}})
    result = await executor.execute(ctx)
    assert result.result_text == f"resumed {session}"
    second = records_of(record)[1]
    assert second["argv"][second["argv"].index("--resume") + 1] == session
    assert '"callbacks"' in second["prompt"]


async def test_claude_code_failures(tmp_path: Path) -> None:
    executor = ClaudeCodeExecutor(Conversations(tmp_path / "conv.json"))
    ctx, _ = ctx_for("claude-code", {"command": CLAUDE}, "please FAIL", tmp_path)
    failed = await executor.execute(ctx)
    assert failed.status == "failed" and failed.error is not None
    assert failed.error.code == "agent_failed" and "gave up" in failed.error.message
    ctx, _ = ctx_for("claude-code", {"command": CLAUDE}, "CRASH now", tmp_path)
    crashed = await executor.execute(ctx)
    assert crashed.error is not None and "something broke" in crashed.error.message
    ctx, _ = ctx_for("claude-code", {"command": ["/nonexistent/claude"]}, "x", tmp_path)
    missing = await executor.execute(ctx)
    assert missing.error is not None and missing.error.code == "agent_not_started"


async def test_codex_json_schema_resume_and_failure(tmp_path: Path) -> None:
    record = tmp_path / "rec.jsonl"
    config = {"command": CODEX, "env": {"FAKE_RECORD": str(record)}}
    executor = CodexExecutor(Conversations(tmp_path / "conv.json"))
    ctx, recorder = ctx_for("codex", config, "do it", tmp_path, blueprint={"output_schema": SCHEMA})
    result = await executor.execute(ctx)
    assert result.status == "completed" and result.result_data == {"answer": 42}
    assert result.usage is not None and result.usage.output_tokens == 7
    first = records_of(record)[0]
    assert first["schema"] == SCHEMA and first["prompt"].startswith("Be brief.")
    assert 'mcp_servers.gh.url="http://127.0.0.1:1/mcp/gh"' in first["argv"]
    assert "cap-token" not in json.dumps(first["argv"])  # only as the env var it names
    assert ("tool_use", {"tool": "gh.echo"}) in recorder.events
    thread = Conversations(tmp_path / "conv.json").get("codex", "session-1")
    ctx, _ = ctx_for("codex", config, "again", tmp_path, run_kind="resume")
    resumed = await executor.execute(ctx)
    assert resumed.result_text == f"resumed {thread}"
    argv = records_of(record)[1]["argv"]
    assert argv[-3:] == ["resume", thread, "-"]
    ctx, _ = ctx_for("codex", config, "FAIL", tmp_path, run_kind="retry")
    failed = await executor.execute(ctx)
    assert failed.error is not None and "model refused" in failed.error.message


async def test_command_templates(tmp_path: Path) -> None:
    echo_arg = [sys.executable, "-c", "import sys,json; print(json.dumps({'got': sys.argv[1]}))",
                "{prompt}"]  # fmt: skip
    ctx, _ = ctx_for("command", {"command": echo_arg, "prompt": "argument", "output": "json"},
                     "hello", tmp_path)  # fmt: skip
    result = await CommandExecutor().execute(ctx)
    assert result.result_data == {"got": "hello"}
    upper = [sys.executable, "-c", "import sys; print(sys.stdin.read().upper())"]
    ctx, _ = ctx_for("command", {"command": upper}, "shout", tmp_path)
    assert (await CommandExecutor().execute(ctx)).result_text == "SHOUT"
    ctx, _ = ctx_for("command", {"command": upper, "output": "json"}, "nope", tmp_path)
    bad = await CommandExecutor().execute(ctx)
    assert bad.error is not None and bad.error.code == "agent_output_invalid"
    fail = [sys.executable, "-c", "import sys; sys.stderr.write('busy'); sys.exit(75)"]
    ctx, _ = ctx_for("command", {"command": fail}, "x", tmp_path)
    failed = await CommandExecutor().execute(ctx)
    assert failed.error is not None and failed.retryable and "busy" in failed.error.message
    ctx, _ = ctx_for("command", {"command": upper, "prompt": "socket"}, "x", tmp_path)
    invalid = await CommandExecutor().execute(ctx)
    assert invalid.error is not None and invalid.error.code == "agent_config_invalid"
