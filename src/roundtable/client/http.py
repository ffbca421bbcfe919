"""A typed async client for the HTTP API (`api/routes.py`), used by the CLI and by programs.

Responses are parsed into the same pydantic models the services return, and problem-detail
errors are turned back into the domain errors they came from, so code written against the
client handles `ConflictError` or `LeaseExpiredError` exactly as it would in-process.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from roundtable.errors import RoundtableError, from_dict
from roundtable.journal.models import (
    AppendResult,
    Checkpoint,
    CheckpointPage,
    ConsistencyProof,
    EntryInput,
    EntryPage,
    InclusionProof,
    ProjectInfo,
    QueryFilter,
    Status,
    TreeHead,
    VerifyReport,
)
from roundtable.sessions.models import ContextInfo, EndStatus, SessionInfo, SessionStatus
from roundtable.validation import check_name


class ServerUnreachable(RoundtableError):
    """The request never got an answer (refused, timed out, broken connection).

    A client-side error: it never travels on the wire, so it is not in `errors.ERRORS`.
    """

    code = "unreachable"
    http_status = 503
    exit_code = 1
    title = "Server unreachable"


class IssuedToken(BaseModel):
    token: str
    agent: str
    namespace: str
    ttl_seconds: int


def error_from_response(response: httpx.Response) -> RoundtableError:
    """The domain error a problem-detail response stands for (its `detail` is the message)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("code") not in (None, "http_error"):
        return from_dict(
            {
                "code": body["code"],
                "message": body.get("detail") or body.get("title"),
                "data": body.get("data"),
            }
        )
    if isinstance(body, dict) and (body.get("detail") or body.get("title")):
        text = str(body.get("detail") or body.get("title"))
    else:
        text = response.text[:200] or response.reason_phrase
    return RoundtableError(
        f"HTTP {response.status_code} from {response.request.url}: {text}",
        status=response.status_code,
    )


def _models(model: type[Any], payload: Any) -> list[Any]:
    return [model.model_validate(item) for item in payload]


class RoundtableClient:
    """One namespace of one server, as one caller (the bearer token).

    Use as `async with RoundtableClient(url, token) as client:`. With the admin token, methods
    that act for an agent need `agent=`; with an agent token it may be left out.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        namespace: str = "default",
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.namespace = check_name("namespace", namespace)
        self.timeout = timeout
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(
            base_url=f"{self.url}/api/v1/namespaces/{self.namespace}",
            headers=headers,
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> RoundtableClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        params = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = await self._http.request(method, path, json=json, params=params)
        except httpx.ConnectError as exc:
            raise ServerUnreachable(
                f"cannot connect to {self.url}: is `roundtable serve` running at {self.url}?",
                url=self.url,
            ) from exc
        except httpx.TimeoutException as exc:
            raise ServerUnreachable(
                f"{self.url} did not answer within {self.timeout:g}s", url=self.url
            ) from exc
        except httpx.HTTPError as exc:
            raise ServerUnreachable(f"request to {self.url} failed: {exc}", url=self.url) from exc
        if response.is_success:
            return response.json() if response.content else None  # 204: nothing to parse
        raise error_from_response(response)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """A call to a path under this namespace, for clients of areas built on this one."""
        return await self._call(method, path, json=json, params=params)

    # -- sessions -------------------------------------------------------------------------

    async def start_session(
        self,
        agent: str | None = None,
        *,
        metadata: dict[str, Any] | None = None,
        parent_id: str | None = None,
    ) -> SessionInfo:
        body = {"agent": agent, "metadata": metadata or {}, "parent_id": parent_id}
        return SessionInfo.model_validate(await self._call("POST", "/sessions", json=body))

    async def end_session(
        self,
        session_id: str,
        *,
        status: EndStatus = EndStatus.FINISHED,
        agent: str | None = None,
    ) -> SessionInfo:
        body = {"agent": agent, "status": status.value}
        path = f"/sessions/{quote(session_id, safe='')}/end"
        return SessionInfo.model_validate(await self._call("POST", path, json=body))

    async def get_session(self, session_id: str) -> SessionInfo:
        path = f"/sessions/{quote(session_id, safe='')}"
        return SessionInfo.model_validate(await self._call("GET", path))

    async def list_sessions(
        self,
        *,
        agent: str | None = None,
        status: SessionStatus | None = None,
        limit: int = 100,
    ) -> list[SessionInfo]:
        params = {"agent": agent, "status": status.value if status else None, "limit": limit}
        return _models(SessionInfo, await self._call("GET", "/sessions", params=params))

    # -- agent context --------------------------------------------------------------------

    async def get_context(self, agent: str) -> ContextInfo:
        path = f"/agents/{check_name('agent', agent)}/context"
        return ContextInfo.model_validate(await self._call("GET", path))

    async def set_project(
        self,
        agent: str,
        project: str,
        *,
        expected_version: int | None = None,
        create: bool = False,
        session_id: str | None = None,
    ) -> ContextInfo:
        """Set the agent's current project; `ConflictError` if `expected_version` is stale."""
        body = {
            "project": project,
            "expected_version": expected_version,
            "create": create,
            "session_id": session_id,
        }
        path = f"/agents/{check_name('agent', agent)}/context"
        return ContextInfo.model_validate(await self._call("PUT", path, json=body))

    # -- projects and journal -------------------------------------------------------------

    async def list_projects(self) -> list[ProjectInfo]:
        return _models(ProjectInfo, await self._call("GET", "/projects"))

    async def get_project(self, project: str) -> ProjectInfo:
        path = f"/projects/{check_name('project', project)}"
        return ProjectInfo.model_validate(await self._call("GET", path))

    async def append(
        self,
        project: str,
        message: str,
        *,
        status: Status = Status.INFO,
        kind: str = "progress",
        meta: dict[str, Any] | None = None,
        agent: str | None = None,
        session_id: str | None = None,
    ) -> AppendResult:
        """Append one entry; the server assigns its seq and timestamp."""
        entry = EntryInput(message=message, status=status, kind=kind, meta=meta or {})
        return await self.append_many(project, [entry], agent=agent, session_id=session_id)

    async def append_many(
        self,
        project: str,
        entries: Sequence[EntryInput],
        *,
        agent: str | None = None,
        session_id: str | None = None,
    ) -> AppendResult:
        """Append an atomic batch: all entries get consecutive seqs, or none is written."""
        body = {
            "agent": agent,
            "session_id": session_id,
            "entries": [entry.model_dump(mode="json") for entry in entries],
        }
        path = f"/projects/{check_name('project', project)}/entries"
        return AppendResult.model_validate(await self._call("POST", path, json=body))

    async def read_recent(
        self, project: str, *, limit: int = 20, cursor: str | None = None
    ) -> EntryPage:
        """Newest entries first; pass `next_cursor` back as `cursor` for older ones."""
        path = f"/projects/{check_name('project', project)}/entries"
        params = {"limit": limit, "cursor": cursor}
        return EntryPage.model_validate(await self._call("GET", path, params=params))

    async def query(self, filters: QueryFilter | None = None) -> EntryPage:
        body = (filters or QueryFilter()).model_dump(mode="json", exclude_none=True)
        return EntryPage.model_validate(await self._call("POST", "/entries/query", json=body))

    async def verify(self, project: str) -> VerifyReport:
        path = f"/projects/{check_name('project', project)}/verify"
        return VerifyReport.model_validate(await self._call("GET", path))

    async def verify_with_progress(
        self, project: str, progress: Callable[[int, int], None]
    ) -> VerifyReport:
        """`verify`, calling `progress(checked, total)` as the server reports it (NDJSON)."""
        path = f"/projects/{check_name('project', project)}/verify/stream"
        try:
            async with self._http.stream("GET", path, timeout=None) as response:
                if not response.is_success:
                    await response.aread()
                    raise error_from_response(response)
                async for line in response.aiter_lines():
                    if not line:
                        continue
                    message = json.loads(line)
                    if "report" in message:
                        return VerifyReport.model_validate(message["report"])
                    if "error" in message:
                        raise from_dict(message["error"])
                    progress(int(message["checked"]), int(message["total"]))
        except httpx.HTTPError as exc:
            raise ServerUnreachable(f"request to {self.url} failed: {exc}", url=self.url) from exc
        raise ServerUnreachable(f"{self.url} ended the verify stream without a report")

    async def checkpoints(
        self, project: str, *, limit: int = 50, cursor: str | None = None
    ) -> CheckpointPage:
        path = f"/projects/{check_name('project', project)}/checkpoints"
        params = {"limit": limit, "cursor": cursor}
        return CheckpointPage.model_validate(await self._call("GET", path, params=params))

    async def latest_checkpoint(self, project: str) -> Checkpoint:
        path = f"/projects/{check_name('project', project)}/checkpoints/latest"
        return Checkpoint.model_validate(await self._call("GET", path))

    async def sign_checkpoint(self, project: str) -> Checkpoint:
        """Have the server sign the journal's head now."""
        path = f"/projects/{check_name('project', project)}/checkpoints"
        return Checkpoint.model_validate(await self._call("POST", path))

    async def tree_head(self, project: str, size: int | None = None) -> TreeHead:
        path = f"/projects/{check_name('project', project)}/tree"
        return TreeHead.model_validate(await self._call("GET", path, params={"size": size}))

    async def inclusion_proof(
        self, project: str, seq: int, size: int | None = None
    ) -> InclusionProof:
        path = f"/projects/{check_name('project', project)}/proofs/inclusion"
        params = {"seq": seq, "size": size}
        return InclusionProof.model_validate(await self._call("GET", path, params=params))

    async def consistency_proof(
        self, project: str, old_size: int, new_size: int | None = None
    ) -> ConsistencyProof:
        path = f"/projects/{check_name('project', project)}/proofs/consistency"
        params = {"old": old_size, "new": new_size}
        return ConsistencyProof.model_validate(await self._call("GET", path, params=params))

    # -- auth -----------------------------------------------------------------------------

    async def create_token(self, agent: str, *, ttl_seconds: int = 3600) -> IssuedToken:
        """Have the server mint an agent token for this namespace (needs the admin token)."""
        body = {"agent": agent, "ttl_seconds": ttl_seconds}
        return IssuedToken.model_validate(await self._call("POST", "/tokens", json=body))
