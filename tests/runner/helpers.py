"""Building claimed runs and contexts for executor tests, without a server."""

from __future__ import annotations

import asyncio
from typing import Any

from roundtable.runner.executors.base import RunContext
from roundtable.runner.protocol import ClaimedRun


def claimed(kind: str, config: dict[str, Any], input: Any = None, **fields: Any) -> ClaimedRun:
    return ClaimedRun.model_validate(
        {
            "id": "run-1",
            "session_id": "session-1",
            "namespace": "default",
            "kind": fields.pop("run_kind", "start"),
            "attempt": fields.pop("attempt", 1),
            "input": input,
            "run_token": "token-for-tests",
            "blueprint": {"name": "bp", "executor": {"kind": kind, "config": config}},
            **fields,
        }
    )


class Recorder:
    """A progress callback that keeps what it was told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append((kind, data))


def context(run: ClaimedRun, url: str = "http://127.0.0.1:9") -> tuple[RunContext, Recorder]:
    recorder = Recorder()
    return RunContext(run=run, server_url=url, progress=recorder, stop=asyncio.Event()), recorder
