"""Structured output on the runner side: what a non-native executor's agent is told.

An executor with `native_schema = True` passes `run.blueprint.output_schema` to the agent's own
structured-output mechanism. Every other executor gets the server's instructions (the schema
and how to answer) appended to the run's prompt. The server validates the result either way.
"""

from __future__ import annotations

from roundtable.runner.executors.base import Executor
from roundtable.runner.protocol import ClaimedRun


def for_executor(run: ClaimedRun, executor: Executor) -> ClaimedRun:
    """`run` as `executor` should see it: with the output instructions in its prompt unless the
    executor enforces the schema natively (or the run has none)."""
    if executor.native_schema or not run.output_instructions:
        return run
    data = run.input
    if not isinstance(data, dict):
        return run
    prompt = data.get("prompt")
    if isinstance(prompt, str):
        data = {**data, "prompt": f"{prompt}\n\n{run.output_instructions}"}
    else:
        data = {**data, "output_instructions": run.output_instructions}
    return run.model_copy(update={"input": data})
