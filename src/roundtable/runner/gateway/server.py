"""The gateway's loopback HTTP server: `/mcp/{name}` per run, guarded by a capability token.

One official-SDK low-level `Server` per upstream name serves Streamable HTTP (stateless, JSON
responses); its handlers find the run from the request's capability token, apply the entry's
allow/deny lists, forward to the upstream connection and report each call as a progress event
(`mcp_call`: server, tool, duration, outcome, sizes; arguments only when `log_arguments`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import hmac
import json
import logging
import secrets as pysecrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import mcp_types as types
import uvicorn
from mcp.client.client import Client
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from starlette.types import Receive, Scope, Send

from roundtable.runner.gateway import fastpath
from roundtable.runner.gateway.credentials import OAuthCache, UpstreamTokenMinter, header_source
from roundtable.runner.gateway.events import CallEvents, Report
from roundtable.runner.gateway.secrets import RunnerSecrets
from roundtable.runner.gateway.upstreams import Connection, Target, UpstreamError, UpstreamPool
from roundtable.runner.protocol import ClaimedRun

log = logging.getLogger("roundtable.runner.gateway")

ROUNDTABLE = "roundtable"
#: The grant of the request being served (the SDK's input-schema lookup gets only a tool name).
_CURRENT: ContextVar[RunGrant | None] = ContextVar("rt_gateway_grant", default=None)


def allowed(entry: dict[str, Any], tool: str) -> bool:
    allow = entry.get("allow_tools")
    if allow is not None and not any(fnmatch.fnmatchcase(tool, p) for p in allow):
        return False
    return not any(fnmatch.fnmatchcase(tool, p) for p in entry.get("deny_tools") or [])


def secret_names(entry: dict[str, Any]) -> set[str]:
    """The runner secrets an entry names (stdio env and auth)."""
    auth = entry.get("auth") or {}
    keys = ("secret", "client_id_secret", "client_secret_secret")
    return {str(n) for n in [*(entry.get("env") or []), *(auth.get(k) for k in keys)] if n}


@dataclass
class RunGrant:
    """What one run may reach: its endpoints and the capability token guarding them."""

    run_id: str
    session_id: str
    token: str
    targets: dict[str, Target]
    #: This run's `mcp_call` events, reported in batches off the call path.
    events: CallEvents
    urls: dict[str, str] = field(default_factory=dict)
    #: The runner secrets this run's servers use: kept out of the executor's environment.
    secret_names: frozenset[str] = frozenset()


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers: SIGTERM/SIGINT belong to the runner, which shuts
    the gateway down itself after its runs ended."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Gateway:
    """Serves every run of this runner on one loopback port; `async with` starts and stops."""

    def __init__(
        self,
        secrets: RunnerSecrets | None = None,
        *,
        server_url: str | None = None,
        local_servers: dict[str, dict[str, Any]] | None = None,
        mint: UpstreamTokenMinter | None = None,
        idle_seconds: float = 300.0,
        host: str = "127.0.0.1",
    ) -> None:
        self.secrets = secrets or RunnerSecrets()
        self.server_url = server_url
        self.local = local_servers or {}
        self.mint = mint
        self.host = host
        self.pool = UpstreamPool(idle_seconds)
        self.oauth = OAuthCache()
        self.port = 0
        self._grants: dict[str, RunGrant] = {}
        self._secret_names: set[str] = set()
        self._managers: dict[str, StreamableHTTPSessionManager] = {}
        self._keepers: list[tuple[asyncio.Event, asyncio.Task[None]]] = []
        self._uvicorn: _QuietServer | None = None
        self._serve: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Gateway:
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only then, and
        # without it Nagle + delayed ACKs add ~40 ms to every response.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._asgi, log_level="warning", lifespan="off", access_log=False, interface="asgi3"
        )
        self._uvicorn = _QuietServer(config)
        self._serve = asyncio.create_task(self._uvicorn.serve(sockets=[sock]), name="mcp-gateway")
        while not self._uvicorn.started:
            if self._serve.done():
                await self._serve
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._uvicorn is not None and self._serve is not None:
            self._uvicorn.should_exit = True
            with contextlib.suppress(BaseException):
                await self._serve
        for done, task in self._keepers:
            done.set()
            with contextlib.suppress(BaseException):
                await task
        await self.pool.aclose()

    # -- runs --------------------------------------------------------------------------------

    def _entries(self, run: ClaimedRun) -> dict[str, dict[str, Any]]:
        """The run's servers: registry entries first, then this runner's local file."""
        by_name = {str(e["name"]): e for e in run.mcp_registry}
        found: dict[str, dict[str, Any]] = {}
        for name in run.blueprint.mcp_servers:
            entry = by_name.get(name) or self.local.get(name)
            if entry is None:
                raise LookupError(
                    f"MCP server {name!r} is neither in the registry nor in this runner's file"
                )
            found[name] = entry
        return found

    @contextlib.asynccontextmanager
    async def open_run(
        self,
        run: ClaimedRun,
        report: Report,
        *,
        retryable: Callable[[BaseException], bool] | None = None,
    ) -> AsyncIterator[RunGrant]:
        """Endpoints for exactly this run's servers (plus `roundtable`), valid while open.

        `report` sends a batch of the run's `mcp_call` progress events and raises when that
        failed (retried while `retryable(error)`); the batches still queued when the run ends
        are sent before this returns.
        """
        targets: dict[str, Target] = {}
        for name, entry in self._entries(run).items():
            header = header_source(
                entry.get("auth") or {}, name, run.id, self.secrets, self.oauth, self.mint
            )
            env = {n: self.secrets.get(n) for n in entry.get("env") or []}
            targets[name] = Target(name, entry, header, env)
        if self.server_url is not None:
            token = run.run_token

            async def run_token(_fresh: bool) -> tuple[str, str]:
                return "Authorization", f"Bearer {token}"

            url = self.server_url.rstrip("/") + "/mcp"
            entry = {"name": ROUNDTABLE, "transport": "http", "url": url}
            targets[ROUNDTABLE] = Target(ROUNDTABLE, entry, run_token)
        for name in targets:
            await self._manager(name)
        events = CallEvents(report, run.id, retryable=retryable or (lambda _error: True))
        grant = RunGrant(run.id, run.session_id, pysecrets.token_urlsafe(32), targets, events)
        grant.urls = {n: f"http://{self.host}:{self.port}/mcp/{n}" for n in targets}
        # Every secret name this runner has seen (this run's, earlier runs', the local file's)
        # is kept out of the executor's environment, not only the ones this run uses.
        for entry in [*(t.entry for t in targets.values()), *self.local.values()]:
            self._secret_names.update(secret_names(entry))
        grant.secret_names = frozenset(self._secret_names)
        self._grants[grant.token] = grant
        try:
            yield grant
        finally:
            self._grants.pop(grant.token, None)
            await grant.events.aclose()

    # -- HTTP --------------------------------------------------------------------------------

    async def _manager(self, name: str) -> StreamableHTTPSessionManager:
        manager = self._managers.get(name)
        if manager is not None:
            return manager
        server: Server[Any] = Server(
            f"roundtable-gateway-{name}",
            get_tool_input_schema=self._input_schema(name),
            on_list_tools=self._list_tools(name),
            on_call_tool=self._call_tool(name),
        )
        manager = StreamableHTTPSessionManager(app=server, stateless=True, json_response=True)
        self._managers[name] = manager
        ready, done = asyncio.Event(), asyncio.Event()

        async def keep() -> None:
            async with manager.run():
                ready.set()
                await done.wait()

        self._keepers.append((done, asyncio.create_task(keep(), name=f"mcp-gateway-{name}")))
        await ready.wait()
        return manager

    def _grant(self, scope: Scope) -> RunGrant | None:
        for key, value in scope.get("headers") or []:
            if key == b"authorization" and value[:7].lower() == b"bearer ":
                token = value[7:].decode("latin-1")
                for known, grant in list(self._grants.items()):
                    if hmac.compare_digest(known, token):
                        return grant
        return None

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope.get("path", "")
        name = path.removeprefix("/mcp/").rstrip("/") if path.startswith("/mcp/") else ""
        grant = self._grant(scope)
        if grant is None:
            await _plain(send, 401, "a valid run capability token is required")
            return
        if name not in grant.targets or name not in self._managers:
            await _plain(send, 404, "this run has no such MCP server")
            return
        scope.setdefault("state", {})["rt_grant"] = grant
        manager, target = self._managers[name], grant.targets[name]
        reset = _CURRENT.set(grant)
        try:
            if _header(scope, b"mcp-method") == b"tools/call":
                await self._know_schemas(grant, target)
                if fastpath.eligible(scope, manager.max_request_body_size):
                    body = await fastpath.read_body(receive)
                    if body is None:
                        return  # the client went away
                    may_call = partial(allowed, target.entry)
                    call = fastpath.parse(scope, body, may_call, self._input_schema(name))
                    if call is not None:
                        server_info = partial(getattr, manager.app, "server_info_stamp")
                        outcome = self._proxy(grant, target, call.params)
                        await fastpath.answer(call, send, outcome, server_info)
                        return
                    receive = fastpath.replay(body, receive)
            await manager.handle_request(scope, receive, send)
        finally:
            _CURRENT.reset(reset)

    # -- handlers ----------------------------------------------------------------------------

    def _current(self, ctx: Any, name: str) -> tuple[RunGrant, Target]:
        grant: RunGrant | None = getattr(getattr(ctx.request, "state", None), "rt_grant", None)
        if grant is None or name not in grant.targets:
            raise MCPError(code=types.INVALID_REQUEST, message="no run grant for this server")
        return grant, grant.targets[name]

    async def _client(self, grant: RunGrant, target: Target) -> tuple[Connection, Client]:
        key = (grant.session_id, target.name)
        conn = await self.pool.get(key, target)
        try:
            return conn, await conn.ready()
        except UpstreamError:
            await self.pool.drop(key, conn)
            raise

    def _input_schema(self, name: str) -> Callable[[str], Mapping[str, Any] | None]:
        """The SDK validates a call's `Mcp-Param-*` headers against the tool's input schema;
        without this lookup it lists the tools (one upstream round trip) on every call, so the
        schemas come from the upstream's last listing, kept on its connection."""

        def lookup(tool: str) -> Mapping[str, Any] | None:
            grant = _CURRENT.get()
            target = grant.targets.get(name) if grant is not None else None
            if grant is None or target is None or not allowed(target.entry, tool):
                return None  # refused by the call handler
            conn = self.pool.peek((grant.session_id, name))
            schemas = conn.input_schemas if conn is not None else None
            return schemas.get(tool) if schemas is not None else None

        return lookup

    async def _know_schemas(self, grant: RunGrant, target: Target) -> None:
        """List the upstream's tools once per connection before its first call is validated
        (a no-op afterwards; each `tools/list` served refreshes them)."""
        conn = self.pool.peek((grant.session_id, target.name))
        if conn is not None and conn.input_schemas is not None:
            return
        try:
            conn, client = await self._client(grant, target)
            _remember(conn, await client.list_tools(), first_page=True)
        except Exception as exc:  # the call handler reports an unreachable upstream itself
            log.debug("MCP server %s: no tool listing for header checks: %s", target.name, exc)

    def _list_tools(self, name: str) -> Callable[[Any, Any], Awaitable[types.ListToolsResult]]:
        async def handler(ctx: Any, params: Any) -> types.ListToolsResult:
            grant, target = self._current(ctx, name)
            try:
                conn, client = await self._client(grant, target)
                cursor = getattr(params, "cursor", None)
                listed = await client.list_tools(cursor=cursor)
            except UpstreamError as exc:
                raise MCPError(code=types.INTERNAL_ERROR, message=str(exc)) from None
            _remember(conn, listed, first_page=cursor is None)
            tools = [t for t in listed.tools if allowed(target.entry, t.name)]
            return types.ListToolsResult(tools=tools, next_cursor=listed.next_cursor)

        return handler

    def _call_tool(self, name: str) -> Callable[[Any, Any], Awaitable[types.CallToolResult]]:
        async def handler(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
            grant, target = self._current(ctx, name)
            return await self._proxy(grant, target, params)

        return handler

    async def _proxy(
        self, grant: RunGrant, target: Target, params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        """One `tools/call` to the upstream (both the SDK handler and the fast path come
        here): the allow/deny check, the call, and the call's event."""
        name = target.name
        started = time.perf_counter()
        arguments = dict(params.arguments or {})
        request_bytes = len(json.dumps(arguments, default=str))
        event: dict[str, Any] = {"server": name, "tool": params.name,
                                 "request_bytes": request_bytes}  # fmt: skip
        if target.entry.get("log_arguments"):
            event["arguments"] = arguments
        try:
            if not allowed(target.entry, params.name):
                event["outcome"] = "denied"
                raise MCPError(
                    code=types.INVALID_PARAMS,
                    message=f"tool {params.name!r} of {name!r} is not allowed for this run",
                )
            conn, client = await self._client(grant, target)
            conn.busy += 1
            try:
                result = await client.call_tool(params.name, arguments)
            except MCPError as exc:
                if exc.error.code != types.CONNECTION_CLOSED:
                    event["outcome"] = "error"
                    raise
                event["outcome"] = "upstream_failed"  # e.g. the stdio process died
                await self.pool.drop((grant.session_id, name), conn)
                raise MCPError(
                    code=types.INTERNAL_ERROR,
                    message=f"MCP server {name!r} failed during {params.name!r}: the "
                    "connection closed; it is restarted on next use",
                ) from None
            except Exception as exc:
                event["outcome"] = "upstream_failed"
                await self.pool.drop((grant.session_id, name), conn)
                raise MCPError(
                    code=types.INTERNAL_ERROR,
                    message=f"MCP server {name!r} failed during {params.name!r}: "
                    f"{type(exc).__name__}; it is restarted on next use",
                ) from None
            finally:
                conn.busy -= 1
            event["outcome"] = "tool_error" if result.is_error else "ok"
            event["response_bytes"] = len(result.model_dump_json())
            return result
        except UpstreamError as exc:
            event["outcome"] = "unavailable"
            raise MCPError(code=types.INTERNAL_ERROR, message=str(exc)) from None
        finally:
            event["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
            grant.events.add("mcp_call", event)  # sent by a background task, batched


def _remember(conn: Connection, listed: types.ListToolsResult, *, first_page: bool) -> None:
    schemas = {} if first_page or conn.input_schemas is None else conn.input_schemas
    schemas.update({t.name: t.input_schema for t in listed.tools})
    conn.input_schemas = schemas


def _header(scope: Scope, name: bytes) -> bytes | None:
    return next((v for k, v in scope.get("headers") or [] if k == name), None)


async def _plain(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})
