"""`roundtable mcp --url URL`: a stdio MCP server that is a pipe to a running `roundtable serve`.

MCP clients start stdio servers with an environment of their choosing (MCP Inspector and Codex
drop `XDG_DATA_HOME`, for instance), so a `roundtable mcp` that opens a database itself may open
a different one from the server's. The bridge opens none: every JSON-RPC message from stdin is
POSTed to the server's Streamable HTTP endpoint (`URL/mcp`) with the agent's bearer token, and
every answer is written to stdout, so all agents on a machine share the server's database.

The token is an agent token (`roundtable token create`), or the admin token, which the bridge
exchanges at start for a token of the declared agent (`ROUNDTABLE_AGENT` / `--agent`). Requests
are forwarded concurrently (a long `wait_for_events` does not hold up other calls).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx

#: Reads may wait for a long-poll (`wait_for_events`, bounded by the server's max_wait_seconds).
TIMEOUT = httpx.Timeout(30.0, read=600.0)
JSONRPC_SERVER_ERROR = -32000


class BridgeError(Exception):
    """The bridge cannot start (no server, a refused token): said on stderr, exit 1."""


def _looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


async def agent_token(
    client: httpx.AsyncClient, url: str, token: str | None, agent: str | None, namespace: str
) -> str | None:
    """The bearer token to forward: an agent token as given, or one minted for `agent` with an
    admin token. Without any token, requests go unauthenticated (a server with auth disabled)."""
    if token is None or _looks_like_jwt(token) or agent is None:
        return token
    try:
        response = await client.post(
            f"{url}/api/v1/namespaces/{namespace}/tokens",
            headers={"Authorization": f"Bearer {token}"},
            json={"agent": agent},
        )
    except httpx.HTTPError as exc:
        raise BridgeError(f"no Roundtable server answers at {url}: {exc}") from exc
    if response.status_code != 201:
        raise BridgeError(
            f"{url} refused to mint a token for agent {agent!r} "
            f"({response.status_code}): {response.text[:300]}"
        )
    minted: str = response.json()["token"]
    return minted


class Bridge:
    """Forwards stdin's JSON-RPC messages to `URL/mcp` and writes the answers to stdout."""

    def __init__(self, client: httpx.AsyncClient, url: str, token: str | None) -> None:
        self.client = client
        self.endpoint = f"{url}/mcp"
        self.headers = {
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
        }
        if token is not None:
            self.headers["Authorization"] = f"Bearer {token}"
        self._out = asyncio.Lock()

    async def write(self, message: Any) -> None:
        async with self._out:
            sys.stdout.buffer.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
            sys.stdout.buffer.flush()

    async def forward(self, message: Any) -> None:
        """POST one message; write what the server answers (nothing for a notification)."""
        request_id = message.get("id") if isinstance(message, dict) else None
        is_request = isinstance(message, dict) and "method" in message and "id" in message
        try:
            response = await self.client.post(self.endpoint, json=message, headers=self.headers)
        except httpx.HTTPError as exc:
            if is_request:
                await self.error(request_id, f"Roundtable server unreachable: {exc}")
            return
        if "mcp-session-id" in response.headers:
            self.headers["Mcp-Session-Id"] = response.headers["mcp-session-id"]
        if response.status_code == 202 or not response.content:
            return
        kind = response.headers.get("content-type", "")
        if response.status_code >= 400 and not kind.startswith("application/json"):
            if is_request:
                await self.error(
                    request_id,
                    f"HTTP {response.status_code} from {self.endpoint}",
                    _problem(response),
                )
            return
        for answer in _messages(response.text, kind):
            if isinstance(answer, dict) and isinstance(answer.get("result"), dict):
                version = answer["result"].get("protocolVersion")
                if isinstance(version, str):
                    self.headers["MCP-Protocol-Version"] = version
            await self.write(answer)

    async def error(self, request_id: Any, text: str, data: Any = None) -> None:
        error: dict[str, Any] = {"code": JSONRPC_SERVER_ERROR, "message": text}
        if data is not None:
            error["data"] = data
        await self.write({"jsonrpc": "2.0", "id": request_id, "error": error})

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        pending: set[asyncio.Task[None]] = set()
        while line := await reader.readline():
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except ValueError:
                await self.write(
                    {
                        "jsonrpc": "2.0",
                        "id": None,
                        "error": {"code": -32700, "message": "Parse error"},
                    }
                )
                continue
            task = asyncio.create_task(self.forward(message))
            pending.add(task)
            task.add_done_callback(pending.discard)
            if isinstance(message, dict) and message.get("method") == "initialize":
                await task  # later requests carry the negotiated protocol version
        for task in pending:
            task.cancel()


def _problem(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {"status": response.status_code, "body": response.text[:500]}


def _messages(body: str, content_type: str) -> list[Any]:
    """The JSON-RPC messages of a JSON body or of an SSE stream's `data:` fields."""
    if content_type.startswith("text/event-stream"):
        found: list[Any] = []
        for event in body.replace("\r\n", "\n").split("\n\n"):
            data = "\n".join(
                line[5:].lstrip(" ") for line in event.split("\n") if line.startswith("data:")
            )
            if data:
                found.append(json.loads(data))
        return found
    return [json.loads(body)]


async def serve_bridge(url: str, token: str | None, agent: str | None, namespace: str) -> None:
    """Run the bridge until stdin closes; `BridgeError` if it cannot start."""
    url = url.rstrip("/")
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        bearer = await agent_token(client, url, token, agent, namespace)
        print(
            f"roundtable mcp: bridging to {url}/mcp"
            + (f" as agent {agent}" if agent else "")
            + " (the server's database)",
            file=sys.stderr,
            flush=True,
        )
        await Bridge(client, url, bearer).run()
