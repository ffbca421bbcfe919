"""`script`: run a command with the run's input as JSON on stdin; its stdout is the result.

Blueprint `executor.config`:

- `command` (required): a list of arguments, or a string split like a shell would (no shell
  runs it: no pipes, no variables);
- `timeout` (seconds, default 3600): then the process is killed and the run fails with
  `timeout`;
- `env` (object of strings): added to the runner's environment; `cwd`: working directory.

The process also gets `ROUNDTABLE_URL`, `ROUNDTABLE_TOKEN` (the run token, scoped to the run's
session tree), `ROUNDTABLE_NAMESPACE`, `ROUNDTABLE_SESSION_ID` and `ROUNDTABLE_RUN_ID`, so a
script can call Roundtable (the CLI included) as its session. When the run is traced it also
gets `TRACEPARENT` (and `TRACESTATE`), the W3C context of the run's `invoke_agent` span (or, if
the runner does not trace, the one the run was queued with), so a script that traces joins it.

Outcome: exit 0 completes the run, with stdout parsed as JSON into `result_data`, or kept as
`result_text` when it is not JSON. Any other exit fails it (`script_failed`) with the exit code
and the tail of stderr; exit 75 (`EX_TEMPFAIL`) marks the failure retryable. On stop or timeout
the whole process group gets SIGTERM, then SIGKILL a few seconds later.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
from typing import Any, ClassVar

from roundtable import tracing
from roundtable.runner.executors.base import Executor, ExecutorResult, RunContext

STDERR_TAIL = 2_000  # characters of stderr quoted in a failure
KILL_GRACE = 3.0  # seconds between SIGTERM and SIGKILL
EX_TEMPFAIL = 75


def command_of(config: dict[str, Any]) -> list[str]:
    """The argv a blueprint's config names; ValueError saying what is wrong otherwise."""
    command = config.get("command")
    if isinstance(command, str):
        argv = shlex.split(command)
    elif isinstance(command, list) and all(isinstance(a, str) for a in command):
        argv = list(command)
    else:
        raise ValueError("executor.config.command must be a string or a list of strings")
    if not argv:
        raise ValueError("executor.config.command is empty")
    return argv


def _signal_group(proc: asyncio.subprocess.Process, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


async def _terminate(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the process group, SIGKILL it if it has not exited after `KILL_GRACE`."""
    _signal_group(proc, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), timeout=KILL_GRACE)
    except TimeoutError:
        _signal_group(proc, signal.SIGKILL)
        await proc.wait()


class ScriptExecutor(Executor):
    kind: ClassVar[str] = "script"

    async def execute(self, ctx: RunContext) -> ExecutorResult:
        config = ctx.config
        try:
            argv = command_of(config)
            timeout = float(config.get("timeout", 3600))
            extra_env = {str(k): str(v) for k, v in (config.get("env") or {}).items()}
        except (ValueError, TypeError, AttributeError) as exc:
            return ExecutorResult.failed("script_config_invalid", str(exc))
        env = {**ctx.child_env(), **extra_env}
        env.update(trace_env(ctx))
        stdin = json.dumps(ctx.run.input, ensure_ascii=False).encode()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                cwd=config.get("cwd"),
                start_new_session=True,  # its own process group, so a stop kills its children
            )
        except OSError as exc:
            return ExecutorResult.failed("script_not_started", f"{argv[0]}: {exc}")
        await ctx.progress("process", {"pid": proc.pid, "argv": argv})

        work = asyncio.ensure_future(proc.communicate(stdin))
        stop = asyncio.ensure_future(ctx.stop.wait())
        try:
            done, _ = await asyncio.wait(
                {work, stop}, timeout=timeout, return_when="FIRST_COMPLETED"
            )
        except asyncio.CancelledError:
            await _terminate(proc)
            raise
        finally:
            stop.cancel()
        if work not in done:
            await _terminate(proc)
            with contextlib.suppress(Exception):
                await work
            if ctx.stop.is_set():
                return ExecutorResult.stopped()
            return ExecutorResult.failed("timeout", f"{argv[0]} ran longer than {timeout:g}s")
        out, err = work.result()
        return self._outcome(argv, proc.returncode, out, err)

    @staticmethod
    def _outcome(argv: list[str], code: int | None, out: bytes, err: bytes) -> ExecutorResult:
        if code != 0:
            tail = err.decode(errors="replace")[-STDERR_TAIL:].strip()
            message = f"{argv[0]} exited with {code}" + (f": {tail}" if tail else "")
            return ExecutorResult.failed("script_failed", message, retryable=code == EX_TEMPFAIL)
        text = out.decode(errors="replace").strip()
        if not text:
            return ExecutorResult.completed()
        try:
            return ExecutorResult.completed(data=json.loads(text))
        except ValueError:
            return ExecutorResult.completed(text=text)


def trace_env(ctx: RunContext) -> dict[str, str]:
    """`TRACEPARENT`/`TRACESTATE` for the process: the current span's context (the run's
    `invoke_agent` span), else the context the run was queued with."""
    carrier = tracing.inject() or {
        "traceparent": ctx.run.traceparent or "",
        "tracestate": ctx.run.tracestate or "",
    }
    return {key.upper(): value for key, value in carrier.items() if key in _TRACE and value}


_TRACE = ("traceparent", "tracestate")
