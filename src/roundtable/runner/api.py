"""The runner protocol's client: register, claim, report and heartbeat over HTTP.

Built on the same error mapping as `roundtable.client` (problem details back into domain
errors; connection failures as `ServerUnreachable`), so the runner's loops can tell "the
server is down, try again" from "the server said no, give up on this".
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from roundtable import tracing
from roundtable.client.http import ServerUnreachable, error_from_response
from roundtable.runner.protocol import ClaimedRun, HeartbeatReply, Registration, RunError, Usage


class RunnerApi:
    """One runner's calls to one server. `register` swaps the bearer for the runner token."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.runner_id: str | None = None
        self._timeout = timeout
        self._http = httpx.AsyncClient(
            base_url=f"{self.url}/api/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
            # Every run may report at once; do not make reports queue behind a long-poll.
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )
        self._register_token = token

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        http_timeout: float | None = None,
        token: str | None = None,
    ) -> Any:
        extra: dict[str, Any] = {}
        if http_timeout is not None:
            extra["timeout"] = http_timeout
        # inside a run's `invoke_agent` span: the server's handling of the report continues it
        headers = tracing.inject()
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if headers:
            extra["headers"] = headers
        try:
            response = await self._http.request(method, path, json=json, **extra)
        except httpx.TimeoutException as exc:
            raise ServerUnreachable(f"{self.url} did not answer in time", url=self.url) from exc
        except httpx.HTTPError as exc:
            raise ServerUnreachable(f"request to {self.url} failed: {exc}", url=self.url) from exc
        if response.is_success:
            return response.json() if response.content else None
        raise error_from_response(response)

    def _path(self, *parts: str) -> str:
        if self.runner_id is None:
            raise RuntimeError("the runner is not registered")
        return "/runners/" + "/".join(quote(p, safe="") for p in (self.runner_id, *parts))

    async def register(
        self,
        *,
        name: str,
        hostname: str,
        namespace: str,
        tags: list[str],
        executors: list[str],
        capacity: int,
    ) -> Registration:
        """Register (with the admin or registration token); later calls use the runner token."""
        body = {
            "name": name,
            "hostname": hostname,
            "namespace": namespace,
            "tags": tags,
            "executors": executors,
            "capacity": capacity,
        }
        reply = Registration.model_validate(
            await self._call("POST", "/runners", json=body, token=self._register_token)
        )
        self.runner_id = reply.id
        self._http.headers["Authorization"] = f"Bearer {reply.token}"
        return reply

    async def claim(self, max_runs: int, wait: float, start: bool = False) -> list[ClaimedRun]:
        """Long-poll for up to `max_runs` runs; `[]` when none came within `wait` seconds.
        With `start` the server marks them running at once (no `started` report needed)."""
        body: dict[str, Any] = {"max": max_runs, "wait": wait}
        if start:
            body["start"] = True
        reply = await self._call(
            "POST",
            self._path("claim"),
            json=body,
            http_timeout=wait + self._timeout,
        )
        return [ClaimedRun.model_validate(run) for run in reply.get("runs", [])]

    async def heartbeat(self, running: list[str]) -> HeartbeatReply:
        reply = await self._call("POST", self._path("heartbeat"), json={"running": running})
        return HeartbeatReply.model_validate(reply or {})

    async def started(self, run_id: str) -> bool:
        """Say the run started; True when the server wants it stopped already."""
        reply = await self._call("POST", self._path("runs", run_id, "started"), json={})
        return bool((reply or {}).get("stop", False))

    async def progress(self, run_id: str, events: list[dict[str, Any]]) -> bool:
        reply = await self._call(
            "POST", self._path("runs", run_id, "progress"), json={"events": events}
        )
        return bool((reply or {}).get("stop", False))

    async def complete(
        self, run_id: str, *, result_text: str | None, result_data: Any, usage: Usage | None
    ) -> dict[str, Any]:
        body = {
            "result_text": result_text,
            "result_data": result_data,
            "usage": usage.model_dump() if usage is not None else None,
        }
        return dict(await self._call("POST", self._path("runs", run_id, "complete"), json=body))

    async def fail(self, run_id: str, error: RunError, *, retryable: bool) -> dict[str, Any]:
        body = {"error": error.model_dump(), "retryable": retryable}
        return dict(await self._call("POST", self._path("runs", run_id, "fail"), json=body))

    async def stopped(self, run_id: str) -> dict[str, Any]:
        return dict(await self._call("POST", self._path("runs", run_id, "stopped"), json={}))

    async def upstream_token(self, run_id: str, audience: str) -> str:
        """A JWT for an upstream with `roundtable` auth (D12), minted by the server."""
        path = self._path("runs", run_id, "upstream-token")
        reply = await self._call("POST", path, json={"audience": audience})
        return str(reply["token"])

    async def unregister(self) -> None:
        """Leave: the server puts this runner's unfinished runs back in the queue."""
        await self._call("DELETE", self._path())
