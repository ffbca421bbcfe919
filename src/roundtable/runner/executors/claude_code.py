"""`claude-code`: Claude Code headless (`claude -p`), its MCP tools only through the gateway.

Command line (prompt on stdin; checked against the Claude Code CLI reference, 2.x):

    claude -p --output-format stream-json --verbose
        --mcp-config <file> --strict-mcp-config
        --allowedTools mcp__<server>,... [<config.allowed_tools>...]
        [--append-system-prompt <instructions>] [--json-schema <output schema>]
        [--resume <conversation>] [--model M] [--max-turns N] [--permission-mode P]

The MCP config file (mode 0600, in a private temp dir, deleted after the run) lists only the
run's gateway endpoints with the per-run capability token; `--strict-mcp-config` ignores every
other MCP configuration. Stream events: `assistant` messages become `tool_use`/`message`
progress events; the final `result` gives the text or `structured_output`, `session_id`
(kept to resume), `usage` and `total_cost_usd`.

Blueprint `executor.config`: `command` (default `claude`), `model`, `max_turns`,
`permission_mode`, `allowed_tools` (list), `timeout` (s, default 3600), `cwd`, `env`.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from roundtable.runner.executors.agent_cli import (
    MESSAGE_CHARS,
    ConversationExecutor,
    parse_json_line,
    program,
    prompt_of,
    write_private,
)
from roundtable.runner.executors.base import ExecutorResult, RunContext
from roundtable.runner.protocol import Usage


def mcp_config(ctx: RunContext) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {ctx.mcp_token}"}
    return {
        "mcpServers": {
            name: {"type": "http", "url": url, "headers": auth}
            for name, url in sorted(ctx.mcp_urls.items())
        }
    }


def claude_argv(ctx: RunContext, config_file: str | None, resume: str | None) -> list[str]:
    config = ctx.config
    argv = [*program(config, "claude"), "-p", "--output-format", "stream-json", "--verbose"]
    if config_file is not None:
        argv += ["--mcp-config", config_file, "--strict-mcp-config"]
    allowed = [f"mcp__{name}" for name in sorted(ctx.mcp_urls)]
    allowed += [str(t) for t in config.get("allowed_tools") or []]
    if allowed:
        argv += ["--allowedTools", ",".join(allowed)]
    if ctx.run.blueprint.instructions:
        argv += ["--append-system-prompt", ctx.run.blueprint.instructions]
    if ctx.run.blueprint.output_schema is not None:
        argv += ["--json-schema", json.dumps(ctx.run.blueprint.output_schema)]
    if resume:
        argv += ["--resume", resume]
    for key, flag in (("model", "--model"), ("max_turns", "--max-turns"),
                      ("permission_mode", "--permission-mode")):  # fmt: skip
        if config.get(key) is not None:
            argv += [flag, str(config[key])]
    return argv


class ClaudeCodeExecutor(ConversationExecutor):
    kind: ClassVar[str] = "claude-code"
    native_schema: ClassVar[bool] = True

    async def execute(self, ctx: RunContext) -> ExecutorResult:
        resume = self.resume_id(ctx)
        result: dict[str, Any] = {}

        async def on_line(line: str) -> None:
            event = parse_json_line(line)
            if event is None:
                return
            kind = event.get("type")
            if kind == "system" and event.get("session_id"):
                self.remember(ctx, str(event["session_id"]))
            elif kind == "assistant":
                for part in (event.get("message") or {}).get("content") or []:
                    if part.get("type") == "tool_use":
                        await ctx.progress("tool_use", {"tool": str(part.get("name"))})
                    elif part.get("type") == "text":
                        text = str(part.get("text", ""))[:MESSAGE_CHARS]
                        await ctx.progress("message", {"text": text})
            elif kind == "result":
                result.update(event)

        with tempfile.TemporaryDirectory(prefix="rt-claude-") as tmp:
            config_file = None
            if ctx.mcp_urls:
                config_file = write_private(Path(tmp) / "mcp.json", json.dumps(mcp_config(ctx)))
            done = await self.run_agent(
                ctx, "claude", lambda: claude_argv(ctx, config_file, resume), on_line=on_line,
                stdin=prompt_of(ctx), cwd=ctx.config.get("cwd"),
            )  # fmt: skip
        if isinstance(done, ExecutorResult):
            return done
        if result.get("session_id"):
            self.remember(ctx, str(result["session_id"]))
        return outcome(result, done.code, done.stderr)


def outcome(result: dict[str, Any], code: int | None, stderr: str) -> ExecutorResult:
    usage_raw = result.get("usage") or {}
    usage = Usage(
        input_tokens=usage_raw.get("input_tokens"),
        output_tokens=usage_raw.get("output_tokens"),
        cost_usd=result.get("total_cost_usd"),
    )
    if not result:
        message = f"claude exited with {code} without a result" + (f": {stderr}" if stderr else "")
        return ExecutorResult.failed("agent_failed", message, retryable=False)
    if result.get("is_error") or result.get("subtype") != "success":
        detail = result.get("result") or result.get("errors") or result.get("subtype")
        return ExecutorResult.failed("agent_failed", f"claude: {detail}")
    if result.get("structured_output") is not None:
        return ExecutorResult.completed(data=result["structured_output"], usage=usage)
    return ExecutorResult.completed(text=str(result.get("result") or ""), usage=usage)
