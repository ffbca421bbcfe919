"""Executors by kind. A runner offers the ones it was started with (`--executors`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from roundtable.errors import InvalidInput
from roundtable.runner.executors.base import Executor, ExecutorResult, RunContext
from roundtable.runner.executors.claude_code import ClaudeCodeExecutor
from roundtable.runner.executors.codex import CodexExecutor
from roundtable.runner.executors.command import CommandExecutor
from roundtable.runner.executors.echo import EchoExecutor
from roundtable.runner.executors.script import ScriptExecutor

#: Known kinds and how to make one. Agent executors (issue 12) add themselves here.
REGISTRY: dict[str, Callable[[], Executor]] = {
    EchoExecutor.kind: EchoExecutor,
    ScriptExecutor.kind: ScriptExecutor,
    ClaudeCodeExecutor.kind: ClaudeCodeExecutor,
    CodexExecutor.kind: CodexExecutor,
    CommandExecutor.kind: CommandExecutor,
}


def build(kinds: Iterable[str]) -> dict[str, Executor]:
    """One executor per requested kind; an unknown kind is a clear error."""
    chosen: dict[str, Executor] = {}
    for kind in kinds:
        if kind not in REGISTRY:
            raise InvalidInput(
                f"unknown executor {kind!r}; known: {', '.join(sorted(REGISTRY))}",
                field="executors",
            )
        chosen[kind] = REGISTRY[kind]()
    if not chosen:
        raise InvalidInput("name at least one executor", field="executors")
    return chosen


__all__ = ["REGISTRY", "Executor", "ExecutorResult", "RunContext", "build"]
