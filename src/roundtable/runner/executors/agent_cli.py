"""What the agent-CLI executors (`claude-code`, `codex`, `command`) share: the prompt a run
gives its agent, a subprocess whose stdout is read line by line (stream formats), stop and
timeout handling on the whole process group, and the conversation ids kept for resumes.

The agent process gets `RunContext.child_env()`: the runner's environment without the runner
secrets its MCP servers use, plus the run's identity and its gateway URLs and capability token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roundtable.runner.executors.base import Executor, ExecutorResult, RunContext
from roundtable.runner.executors.script import _terminate

STDERR_TAIL = 2_000
MESSAGE_CHARS = 2_000  # of an agent message copied into a progress event


def prompt_of(ctx: RunContext) -> str:
    """The text a run asks its agent: the prompt, the parameters as JSON, or for a callback
    the envelopes as JSON (structured data, never spliced into prose). Output instructions
    (non-native schema) are appended by the runner already."""
    data = ctx.run.input
    if ctx.run.kind == "callback":
        text = "Your child sessions reported back (JSON):\n" + json.dumps(data, indent=2)
    elif isinstance(data, dict) and set(data) == {"prompt"} and isinstance(data["prompt"], str):
        text = data["prompt"]
    else:
        text = "Parameters (JSON):\n" + json.dumps(data, indent=2)
    if ctx.run.output_instructions:
        text += "\n\n" + ctx.run.output_instructions
    return text


def resuming(ctx: RunContext) -> bool:
    """Resume the same conversation for resume, callback and retry runs."""
    return ctx.run.kind in ("resume", "callback", "retry")


class Conversations:
    """Agent conversation ids by Roundtable session, kept by this runner (agent CLIs keep their
    conversations on the machine, so only this machine can resume them). A JSON file in a
    directory only the runner's user can read."""

    def __init__(self, path: Path | None = None) -> None:
        if path is None:
            base = Path(tempfile.gettempdir()) / f"roundtable-runner-{os.getuid()}"
            base.mkdir(mode=0o700, exist_ok=True)
            path = base / "conversations.json"
        self.path = path

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def get(self, kind: str, session_id: str) -> str | None:
        return self._read().get(f"{kind}:{session_id}")

    def put(self, kind: str, session_id: str, conversation: str) -> None:
        data = self._read()
        data[f"{kind}:{session_id}"] = conversation
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.chmod(tmp, 0o600)
        tmp.replace(self.path)


def write_private(path: Path, text: str) -> str:
    """Write a file only the runner's user can read (config handed to an agent CLI)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
    return str(path)


@dataclass
class Finished:
    code: int | None
    stderr: str
    stopped: bool = False
    timed_out: bool = False


async def run_streaming(
    ctx: RunContext,
    argv: list[str],
    *,
    on_line: Callable[[str], Awaitable[None]],
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    limit_seconds: float = 3600.0,
) -> Finished:
    """Run `argv` (own process group), feed each stdout line to `on_line`; OSError if it
    cannot start."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env if env is not None else ctx.child_env(),
        cwd=cwd,
        start_new_session=True,
        limit=16 * 1024 * 1024,  # stream-json lines can be long
    )
    assert proc.stdout is not None and proc.stderr is not None
    stdout, stderr_pipe = proc.stdout, proc.stderr
    await ctx.progress("process", {"pid": proc.pid, "program": argv[0]})

    async def feed() -> None:
        if stdin is not None and proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                proc.stdin.write(stdin)
                await proc.stdin.drain()
            proc.stdin.close()

    async def read_out() -> None:
        while line := await stdout.readline():
            await on_line(line.decode(errors="replace").rstrip("\n"))

    async def read_err() -> bytes:
        return await stderr_pipe.read()

    errors = asyncio.ensure_future(read_err())
    work: asyncio.Future[Any] = asyncio.ensure_future(
        asyncio.gather(feed(), read_out(), proc.wait())
    )
    stop: asyncio.Future[Any] = asyncio.ensure_future(ctx.stop.wait())
    try:
        done, _ = await asyncio.wait(
            {work, stop}, timeout=limit_seconds, return_when="FIRST_COMPLETED"
        )
    except asyncio.CancelledError:
        await _terminate(proc)
        raise
    finally:
        stop.cancel()
    if work not in done:
        await _terminate(proc)
        work.cancel()
        with contextlib.suppress(BaseException):
            await work
        errors.cancel()
        return Finished(proc.returncode, "", stopped=ctx.stop.is_set(), timed_out=True)
    work.result()
    tail = (await errors).decode(errors="replace")[-STDERR_TAIL:].strip()
    return Finished(proc.returncode, tail)


def parse_json_line(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def program(config: dict[str, Any], default: str) -> list[str]:
    """The agent CLI to start: `executor.config.command` (a string or an argv) or `default`."""
    command = config.get("command", default)
    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    if not argv:
        raise ValueError("executor.config.command is empty")
    return argv


class ConversationExecutor(Executor):
    """An agent CLI executor that resumes its agent's conversation across a session's runs."""

    def __init__(self, conversations: Conversations | None = None) -> None:
        self.conversations = conversations or Conversations()

    def resume_id(self, ctx: RunContext) -> str | None:
        """The conversation to resume (resume, callback and retry runs), if this runner has it."""
        return self.conversations.get(self.kind, ctx.run.session_id) if resuming(ctx) else None

    def remember(self, ctx: RunContext, conversation: str) -> None:
        self.conversations.put(self.kind, ctx.run.session_id, conversation)

    async def run_agent(
        self,
        ctx: RunContext,
        agent: str,
        build_argv: Callable[[], list[str]],
        *,
        on_line: Callable[[str], Awaitable[None]],
        stdin: str,
        cwd: str | None = None,
    ) -> Finished | ExecutorResult:
        """Start the `agent` CLI (`executor.config` `env` added to its environment, `timeout` in
        seconds, default 3600) and wait for it. An `ExecutorResult` when its config is invalid,
        it could not start, it was stopped or it timed out; otherwise how it finished."""
        config = ctx.config
        try:
            argv = build_argv()
            extra = {str(k): str(v) for k, v in (config.get("env") or {}).items()}
            done = await run_streaming(
                ctx, argv, on_line=on_line, stdin=stdin.encode(),
                env={**ctx.child_env(), **extra}, cwd=cwd,
                limit_seconds=float(config.get("timeout", 3600)),
            )  # fmt: skip
        except (ValueError, TypeError) as exc:
            return ExecutorResult.failed("agent_config_invalid", str(exc))
        except OSError as exc:
            return ExecutorResult.failed("agent_not_started", f"{exc}")
        if done.stopped:
            return ExecutorResult.stopped()
        if done.timed_out:
            return ExecutorResult.failed("timeout", f"{agent} ran longer than its timeout")
        return done
