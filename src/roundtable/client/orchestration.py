"""Client calls for orchestration: blueprints and agent session trees (HTTP, JSON in and out).

Answers are returned as the server's JSON objects (see docs/orchestration.md): the CLI renders
them and scripts print them, so there is no second set of models to keep in step here.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

from roundtable.client.http import RoundtableClient

Mode = Literal["sync", "async_poll", "async_callback"]
JSON = dict[str, Any]


def _q(part: str) -> str:
    return quote(part, safe="")


class Orchestration:
    """Blueprint and agent-session calls, over one `RoundtableClient` (its namespace, token)."""

    def __init__(self, client: RoundtableClient) -> None:
        self.client = client

    async def _call(self, method: str, path: str, **kw: Any) -> Any:
        return await self.client.request(method, path, **kw)

    # -- blueprints --------------------------------------------------------------------------

    async def list_blueprints(self) -> list[JSON]:
        reply = await self._call("GET", "/blueprints")
        return list(reply["blueprints"])

    async def get_blueprint(self, name: str) -> JSON:
        return dict(await self._call("GET", f"/blueprints/{_q(name)}"))

    async def put_blueprint(self, spec: JSON, *, expected_version: int | None = None) -> JSON:
        """Create or update; the answer's `changed` is False when the content was the same."""
        body = dict(spec)
        if expected_version is not None:
            body["expected_version"] = expected_version
        return dict(await self._call("PUT", f"/blueprints/{_q(str(spec['name']))}", json=body))

    async def delete_blueprint(self, name: str, *, expected_version: int | None = None) -> None:
        params = {"expected_version": expected_version}
        await self._call("DELETE", f"/blueprints/{_q(name)}", params=params)

    # -- agent sessions ----------------------------------------------------------------------

    async def start(
        self,
        blueprint: str,
        parameters: JSON,
        *,
        mode: Mode = "async_poll",
        parent_session_id: str | None = None,
        project: str | None = None,
        priority: int = 0,
        wait_seconds: float | None = None,
    ) -> JSON:
        body: JSON = {
            "blueprint": blueprint,
            "parameters": parameters,
            "mode": mode,
            "parent_session_id": parent_session_id,
            "project": project,
            "priority": priority,
        }
        if wait_seconds is not None:
            body["wait_seconds"] = wait_seconds
        return dict(await self._call("POST", "/agent-sessions", json=body))

    async def status(self, session_id: str) -> JSON:
        return dict(await self._call("GET", f"/sessions/{_q(session_id)}"))

    async def result(self, session_id: str) -> JSON:
        return dict(await self._call("GET", f"/sessions/{_q(session_id)}/result"))

    async def children(self, session_id: str) -> list[JSON]:
        reply = await self._call("GET", f"/sessions/{_q(session_id)}/children")
        return list(reply["sessions"])

    async def runs(self, session_id: str) -> list[JSON]:
        reply = await self._call("GET", f"/sessions/{_q(session_id)}/runs")
        return list(reply["runs"])

    async def wait(
        self, session_id: str, *, children: list[str] | None = None, seconds: float = 30.0
    ) -> JSON:
        """Join barrier on the session's children (all, or the named ones)."""
        body = {"children": children, "timeout": seconds}
        return dict(await self._call("POST", f"/sessions/{_q(session_id)}/wait", json=body))

    async def stop(self, session_id: str) -> JSON:
        return dict(await self._call("POST", f"/sessions/{_q(session_id)}/stop"))

    async def delete(self, session_id: str, *, force: bool = False, dry_run: bool = False) -> JSON:
        params = {"force": str(force).lower(), "dry_run": str(dry_run).lower()}
        return dict(await self._call("DELETE", f"/sessions/{_q(session_id)}", params=params))

    async def get_run(self, run_id: str) -> JSON:
        return dict(await self._call("GET", f"/runs/{_q(run_id)}"))
