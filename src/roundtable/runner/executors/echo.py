"""`echo`: a deterministic executor for tests, demos and benchmarks.

It returns its input as `result_data = {"echo": input}`. Its blueprint's `executor.config` can
make it behave like a small agent, so whole session trees can be tested without a model:

- `sleep` (seconds): work that long first (stops early when told to stop);
- `progress` (int): emit that many `step` progress events;
- `fail` (message): fail with `echo_failed`; `fail_attempts` (int) fails only the first N
  attempts (to test retries), `fail_retryable` marks the failure retryable;
- `children` (list of `{blueprint, parameters, mode}`): start these child sessions through
  the server with the run token, on `start`/`retry` runs; `children_from_input` (a key name)
  also starts the specs listed under that key of the input. Children already started by an
  earlier attempt of the same session are not started again, so a retried run does not grow
  the tree twice. Their ids are returned under `result_data["children"]`.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from roundtable.client.http import error_from_response
from roundtable.runner.executors.base import Executor, ExecutorResult, RunContext


class EchoExecutor(Executor):
    kind: ClassVar[str] = "echo"

    def __init__(self) -> None:
        self._http: httpx.AsyncClient | None = None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    async def execute(self, ctx: RunContext) -> ExecutorResult:
        config = ctx.config
        run = ctx.run
        steps = int(config.get("progress", 0) or 0)
        sleep = float(config.get("sleep", 0) or 0)
        for step in range(steps):
            await ctx.progress("step", {"step": step + 1, "of": steps})
            if await ctx.sleep_or_stop(sleep / max(steps, 1)):
                return ExecutorResult.stopped()
        if not steps and await ctx.sleep_or_stop(sleep):
            return ExecutorResult.stopped()
        if ctx.stop.is_set():
            return ExecutorResult.stopped()

        fail = config.get("fail")
        fail_attempts = config.get("fail_attempts")
        if fail and (fail_attempts is None or run.attempt <= int(fail_attempts)):
            return ExecutorResult.failed(
                "echo_failed", str(fail), retryable=bool(config.get("fail_retryable", False))
            )

        result: dict[str, Any] = {"echo": run.input}
        specs = self._child_specs(ctx) if run.kind in ("start", "retry") else []
        if specs:
            result["children"] = await self._start_children(ctx, specs)
        return ExecutorResult.completed(data=result, text=config.get("text"))

    @staticmethod
    def _child_specs(ctx: RunContext) -> list[dict[str, Any]]:
        specs = list(ctx.config.get("children") or [])
        key = ctx.config.get("children_from_input")
        if key and isinstance(ctx.run.input, dict):
            specs.extend(ctx.run.input.get(str(key)) or [])
        return [spec for spec in specs if isinstance(spec, dict)]

    def _client(self, ctx: RunContext) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(base_url=ctx.server_url.rstrip("/"), timeout=60.0)
        return self._http

    async def _start_children(self, ctx: RunContext, specs: list[dict[str, Any]]) -> list[str]:
        """Start the children an earlier attempt did not, as the run (its token, its session)."""
        run = ctx.run
        http = self._client(ctx)
        headers = {"Authorization": f"Bearer {ctx.run_token}"}
        ns = f"/api/v1/namespaces/{quote(run.namespace, safe='')}"
        sid = quote(run.session_id, safe="")
        response = await http.get(f"{ns}/sessions/{sid}/children", headers=headers)
        if not response.is_success:
            raise error_from_response(response)
        ids = [s["id"] for s in response.json().get("sessions", [])]
        for spec in specs[len(ids) :]:
            body = {
                "blueprint": spec["blueprint"],
                "parameters": spec.get("parameters", {}),
                "mode": spec.get("mode", "async_callback"),
                "parent_session_id": run.session_id,
            }
            response = await http.post(f"{ns}/agent-sessions", json=body, headers=headers)
            if not response.is_success:
                raise error_from_response(response)
            ids.append(response.json()["id"])
        return ids
