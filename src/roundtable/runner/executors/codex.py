"""`codex`: the Codex CLI's non-interactive mode, its MCP tools only through the gateway.

Command line (prompt on stdin via `-`; checked against the Codex CLI docs for `codex exec`,
0.5x):

    codex exec --json --skip-git-repo-check [--output-schema <file>] [-m M] [-C DIR]
        -c 'mcp_servers.<server>.url="<gateway url>"'
        -c 'mcp_servers.<server>.bearer_token_env_var="ROUNDTABLE_MCP_TOKEN"' ...
        [resume <thread id>] -

The capability token reaches Codex only as the env var it names. JSONL events:
`thread.started` (thread id, kept to resume), `item.completed` (`agent_message` text becomes
a `message` progress event and the last one the result; `mcp_tool_call` a `tool_use` event),
`turn.completed` (usage), `turn.failed` / `error` (the run fails). With an output schema the
final message is JSON and becomes `result_data`. The blueprint's instructions precede the
prompt (codex exec has no system-prompt flag).

Blueprint `executor.config`: `command` (default `codex`), `model`, `cwd`, `timeout`, `env`,
`args` (extra arguments placed before the prompt).
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


def codex_argv(ctx: RunContext, schema_file: str | None, resume: str | None) -> list[str]:
    config = ctx.config
    argv = [*program(config, "codex"), "exec", "--json", "--skip-git-repo-check"]
    if schema_file is not None:
        argv += ["--output-schema", schema_file]
    if config.get("model"):
        argv += ["-m", str(config["model"])]
    if config.get("cwd"):
        argv += ["-C", str(config["cwd"])]
    for name, url in sorted(ctx.mcp_urls.items()):
        argv += ["-c", f"mcp_servers.{name}.url={json.dumps(url)}"]
        argv += ["-c", f'mcp_servers.{name}.bearer_token_env_var="ROUNDTABLE_MCP_TOKEN"']
    argv += [str(a) for a in config.get("args") or []]
    if resume:
        argv += ["resume", resume]
    return [*argv, "-"]


class CodexExecutor(ConversationExecutor):
    kind: ClassVar[str] = "codex"
    native_schema: ClassVar[bool] = True

    async def execute(self, ctx: RunContext) -> ExecutorResult:
        resume = self.resume_id(ctx)
        state: dict[str, Any] = {"message": None, "usage": {}, "error": None}

        async def on_line(line: str) -> None:
            event = parse_json_line(line)
            if event is None:
                return
            kind = event.get("type")
            if kind == "thread.started" and event.get("thread_id"):
                self.remember(ctx, str(event["thread_id"]))
            elif kind == "item.completed":
                item = event.get("item") or {}
                if item.get("type") == "agent_message":
                    state["message"] = str(item.get("text", ""))
                    await ctx.progress("message", {"text": state["message"][:MESSAGE_CHARS]})
                elif item.get("type") == "mcp_tool_call":
                    await ctx.progress(
                        "tool_use", {"tool": f"{item.get('server')}.{item.get('tool')}"}
                    )
            elif kind == "turn.completed":
                state["usage"] = event.get("usage") or {}
            elif kind == "turn.failed":
                state["error"] = str((event.get("error") or {}).get("message", "turn failed"))
            elif kind == "error":
                state["error"] = str(event.get("message", "error"))

        prompt = prompt_of(ctx)
        if ctx.run.blueprint.instructions and not resume:
            prompt = ctx.run.blueprint.instructions + "\n\n" + prompt
        with tempfile.TemporaryDirectory(prefix="rt-codex-") as tmp:
            schema_file = None
            if ctx.run.blueprint.output_schema is not None:
                schema = json.dumps(ctx.run.blueprint.output_schema)
                schema_file = write_private(Path(tmp) / "schema.json", schema)
            done = await self.run_agent(
                ctx, "codex", lambda: codex_argv(ctx, schema_file, resume), on_line=on_line,
                stdin=prompt,
            )  # fmt: skip
        if isinstance(done, ExecutorResult):
            return done
        raw = state["usage"]
        usage = Usage(input_tokens=raw.get("input_tokens"), output_tokens=raw.get("output_tokens"))
        if state["error"] is not None or done.code != 0:
            detail = state["error"] or done.stderr or f"exit {done.code}"
            return ExecutorResult.failed("agent_failed", f"codex: {detail}")
        message = state["message"] or ""
        if ctx.run.blueprint.output_schema is not None:
            try:
                return ExecutorResult.completed(data=json.loads(message), usage=usage)
            except ValueError:
                pass  # the server's validation reports it
        return ExecutorResult.completed(text=message, usage=usage)
