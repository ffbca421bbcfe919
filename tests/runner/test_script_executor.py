"""The `script` executor with real processes: stdin/stdout JSON, exit codes, stop, timeout."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from roundtable.runner.executors.script import ScriptExecutor
from tests.runner.helpers import claimed, context

PY = sys.executable


async def execute(config: dict[str, object], input: object = None):  # type: ignore[no-untyped-def]
    ctx, recorder = context(claimed("script", config, input))
    return await ScriptExecutor().execute(ctx), recorder


async def test_input_on_stdin_json_result_on_stdout() -> None:
    script = "import json,sys; d=json.load(sys.stdin); print(json.dumps({'got': d}))"
    result, recorder = await execute({"command": [PY, "-c", script]}, {"prompt": "hi"})
    assert result.status == "completed"
    assert result.result_data == {"got": {"prompt": "hi"}}
    assert recorder.events[0][0] == "process"


async def test_plain_text_output_is_result_text() -> None:
    result, _ = await execute({"command": [PY, "-c", "print('just words')"]})
    assert result.status == "completed"
    assert result.result_text == "just words" and result.result_data is None


async def test_run_identity_reaches_the_process_environment() -> None:
    script = (
        "import json,os; print(json.dumps({k: os.environ[k] for k in "
        "('ROUNDTABLE_TOKEN','ROUNDTABLE_SESSION_ID','ROUNDTABLE_RUN_ID','EXTRA')}))"
    )
    result, _ = await execute({"command": [PY, "-c", script], "env": {"EXTRA": "x"}})
    assert result.result_data == {
        "ROUNDTABLE_TOKEN": "token-for-tests",
        "ROUNDTABLE_SESSION_ID": "session-1",
        "ROUNDTABLE_RUN_ID": "run-1",
        "EXTRA": "x",
    }


async def test_the_runs_trace_context_reaches_the_process_environment() -> None:
    """A script that traces (`TRACEPARENT`, the OpenTelemetry environment carrier) joins it."""
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    script = "import os; print(os.environ.get('TRACEPARENT', 'none'))"
    ctx, _ = context(claimed("script", {"command": [PY, "-c", script]}, traceparent=parent))
    result = await ScriptExecutor().execute(ctx)
    assert result.result_text == parent
    untraced, _ = await execute({"command": [PY, "-c", script]})
    assert untraced.result_text == "none"


async def test_nonzero_exit_fails_with_the_stderr_tail() -> None:
    script = "import sys; sys.stderr.write('x' * 5000 + 'the end'); sys.exit(3)"
    result, _ = await execute({"command": [PY, "-c", script]})
    assert result.status == "failed" and result.error is not None
    assert result.error.code == "script_failed"
    assert "exited with 3" in result.error.message and result.error.message.endswith("the end")
    assert len(result.error.message) < 2_200
    assert not result.retryable


async def test_exit_75_is_retryable() -> None:
    result, _ = await execute({"command": [PY, "-c", "raise SystemExit(75)"]})
    assert result.status == "failed" and result.retryable


async def test_stop_kills_the_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    # A grandchild that ignores nothing: the whole group must go, not just the direct child.
    script = (
        "import os,subprocess,sys,time; "
        "p=subprocess.Popen([sys.executable,'-c','import time; time.sleep(60)']); "
        f"open({str(pidfile)!r},'w').write(str(p.pid)); time.sleep(60)"
    )
    ctx, _ = context(claimed("script", {"command": [PY, "-c", script]}))
    task = asyncio.create_task(ScriptExecutor().execute(ctx))
    for _ in range(200):
        if pidfile.exists() and pidfile.read_text():
            break
        await asyncio.sleep(0.05)
    grandchild = int(pidfile.read_text())
    ctx.stop.set()
    result = await asyncio.wait_for(task, timeout=30)
    assert result.status == "stopped"
    for _ in range(100):
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the script's child process survived the stop")


async def test_timeout_kills_and_fails() -> None:
    result, _ = await execute(
        {"command": [PY, "-c", "import time; time.sleep(60)"], "timeout": 0.5}
    )
    assert result.status == "failed" and result.error is not None
    assert result.error.code == "timeout"


async def test_bad_config_and_missing_command_fail_clearly() -> None:
    result, _ = await execute({})
    assert result.error is not None and result.error.code == "script_config_invalid"
    result, _ = await execute({"command": "/no/such/program --flag"})
    assert result.error is not None and result.error.code == "script_not_started"
