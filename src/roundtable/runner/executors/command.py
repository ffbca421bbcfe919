"""`command`: any other CLI agent (Gemini CLI, Aider, your own) from a command template.

Blueprint `executor.config`:

- `command` (required): argv list or string; `{prompt}` in an argument is replaced by the
  prompt when `prompt: argument`;
- `prompt`: `stdin` (default) or `argument` (appended as the last argument unless a
  `{prompt}` placeholder is present);
- `output`: `text` (default: stdout is `result_text`) or `json` (stdout parsed as JSON into
  `result_data`; not JSON fails the run with `agent_output_invalid`);
- `timeout` (s, default 3600), `cwd`, `env`.

Example, Gemini CLI: `{command: ["gemini", "-p", "{prompt}"], prompt: argument}`.
The agent gets `RunContext.child_env()` (run identity, `ROUNDTABLE_MCP_URLS`,
`ROUNDTABLE_MCP_TOKEN`; no runner secrets). Exit 0 completes; another exit fails
(`agent_failed`, stderr tail; 75 retryable).
"""

from __future__ import annotations

import json
from typing import ClassVar

from roundtable.runner.executors.agent_cli import prompt_of, run_streaming
from roundtable.runner.executors.base import Executor, ExecutorResult, RunContext
from roundtable.runner.executors.script import EX_TEMPFAIL, command_of


class CommandExecutor(Executor):
    kind: ClassVar[str] = "command"

    async def execute(self, ctx: RunContext) -> ExecutorResult:
        config = ctx.config
        lines: list[str] = []

        async def on_line(line: str) -> None:
            lines.append(line)

        try:
            argv = command_of(config)
            mode = config.get("prompt", "stdin")
            output = config.get("output", "text")
            if mode not in ("stdin", "argument") or output not in ("text", "json"):
                raise ValueError("prompt must be stdin|argument and output text|json")
            prompt = prompt_of(ctx)
            stdin: bytes | None = prompt.encode()
            if mode == "argument":
                stdin = None
                if any("{prompt}" in a for a in argv):
                    argv = [a.replace("{prompt}", prompt) for a in argv]
                else:
                    argv.append(prompt)
            extra = {str(k): str(v) for k, v in (config.get("env") or {}).items()}
            done = await run_streaming(
                ctx, argv, on_line=on_line, stdin=stdin, env={**ctx.child_env(), **extra},
                cwd=config.get("cwd"), limit_seconds=float(config.get("timeout", 3600)),
            )  # fmt: skip
        except (ValueError, TypeError, AttributeError) as exc:
            return ExecutorResult.failed("agent_config_invalid", str(exc))
        except OSError as exc:
            return ExecutorResult.failed("agent_not_started", str(exc))
        if done.stopped:
            return ExecutorResult.stopped()
        if done.timed_out:
            return ExecutorResult.failed("timeout", f"{argv[0]} ran longer than its timeout")
        if done.code != 0:
            message = f"{argv[0]} exited with {done.code}" + (
                f": {done.stderr}" if done.stderr else ""
            )
            return ExecutorResult.failed(
                "agent_failed", message, retryable=done.code == EX_TEMPFAIL
            )
        text = "\n".join(lines).strip()
        if output == "json":
            try:
                return ExecutorResult.completed(data=json.loads(text))
            except ValueError:
                return ExecutorResult.failed("agent_output_invalid", "stdout is not JSON")
        return ExecutorResult.completed(text=text)
