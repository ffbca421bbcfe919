"""The runner protocol's client: register, claim, report and heartbeat over HTTP.

Built on the same error mapping as `roundtable.client` (problem details back into domain
errors; connection failures as `ServerUnreachable`), so the runner's loops can tell "the
server is down, try again" from "the server said no, give up on this".
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any
from urllib.parse import quote

import httpx

from roundtable import tracing
from roundtable.client.http import ServerUnreachable, error_from_response
from roundtable.errors import RoundtableError, from_dict
from roundtable.runner.protocol import ClaimedRun, HeartbeatReply, Registration, RunError, Usage

#: Run ends sent in one `reports` call at most (the server's limit).
MAX_REPORTS = 64


_End = tuple[dict[str, Any], "asyncio.Future[dict[str, Any]]", contextvars.Context]


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
        #: Run ends waiting to go out in the next `reports` call, each with its caller's future
        #: and context (a lone end is sent from it, so its report continues the run's trace).
        self._ends: list[_End] = []
        self._sender: asyncio.Task[None] | None = None
        #: False once the server turned out not to know `reports` (an older one).
        self.batch_reports = True

    async def aclose(self) -> None:
        if self._sender is not None and not self._sender.done():
            self._sender.cancel()
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
        return await self._end(run_id, "complete", body)

    async def fail(self, run_id: str, error: RunError, *, retryable: bool) -> dict[str, Any]:
        body = {"error": error.model_dump(), "retryable": retryable}
        return await self._end(run_id, "fail", body)

    async def stopped(self, run_id: str) -> dict[str, Any]:
        return await self._end(run_id, "stopped", None)

    async def _end(self, run_id: str, what: str, body: dict[str, Any] | None) -> dict[str, Any]:
        """Report a run's end. Ends reported while a `reports` call is out wait and go together
        in the next one (one request and one server transaction for many fast runs); each
        caller gets its own run's answer or refusal, raised as the single report's would be."""
        if not self.batch_reports:
            return dict(await self._call("POST", self._path("runs", run_id, what), json=body or {}))
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        item = {"run_id": run_id, what: True if body is None else body}
        self._ends.append((item, future, contextvars.copy_context()))
        if self._sender is None or self._sender.done():
            # From an empty context: a batch speaks for many runs, so it carries no one's trace.
            self._sender = asyncio.create_task(self._send_ends(), context=contextvars.Context())
        return await future

    async def _send_ends(self) -> None:
        while self._ends:
            batch, self._ends = self._ends[:MAX_REPORTS], self._ends[MAX_REPORTS:]
            try:
                if len(batch) == 1:
                    # A lone end goes the single way, inside its run's span (tracing).
                    await self._deliver_alone(*batch[0])
                    continue
                reply = await self._call(
                    "POST", self._path("reports"), json={"reports": [item for item, _, _ in batch]}
                )
            except RoundtableError as error:
                if type(error) is RoundtableError and error.data.get("status") in (404, 405):
                    self.batch_reports = False  # an older server: one report per call
                    for end in batch:
                        await self._deliver_alone(*end)
                    continue
                for _, future, _ in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            except BaseException as error:  # cancelled (shutdown) or a bug: nobody waits forever
                for _, future, _ in [*batch, *self._ends]:
                    if future.done():
                        continue
                    if isinstance(error, asyncio.CancelledError):
                        future.cancel()
                    else:
                        future.set_exception(error)
                self._ends.clear()
                raise
            for (_, future, _), result in zip(batch, reply["results"], strict=True):
                if future.done():
                    continue
                if result.get("error"):
                    future.set_exception(from_dict(result["error"]))
                else:
                    future.set_result(dict(result))

    async def _deliver_alone(
        self,
        item: dict[str, Any],
        future: asyncio.Future[dict[str, Any]],
        context: contextvars.Context,
    ) -> None:
        """Send one end by the single-report route from its caller's context; a refusal or an
        unreachable server goes to that caller alone."""
        try:
            result = await asyncio.create_task(self._single(item), context=context)
        except RoundtableError as refused:
            if not future.done():
                future.set_exception(refused)
            return
        if not future.done():
            future.set_result(result)

    async def _single(self, item: dict[str, Any]) -> dict[str, Any]:
        run_id = item["run_id"]
        what = next(key for key in item if key != "run_id")
        body = item[what] if isinstance(item[what], dict) else {}
        return dict(await self._call("POST", self._path("runs", run_id, what), json=body))

    async def upstream_token(self, run_id: str, audience: str) -> str:
        """A JWT for an upstream with `roundtable` auth (D12), minted by the server."""
        path = self._path("runs", run_id, "upstream-token")
        reply = await self._call("POST", path, json={"audience": audience})
        return str(reply["token"])

    async def unregister(self) -> None:
        """Leave: the server puts this runner's unfinished runs back in the queue."""
        await self._call("DELETE", self._path())
