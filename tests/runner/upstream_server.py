"""A real MCP server for the gateway tests (official SDK): `stdio`, or `http PORT` which
requires `Authorization: Bearer $UPSTREAM_TOKEN` (or a token its OAuth endpoint issued).

Tools: `echo(text)`, `whoami()` (what credential reached it), `delete_repo(name)` (to be denied),
`methods()` (`http`: the MCP methods requested so far),
`env_secret()` (stdio: the env secret it got), `crash()` (stdio: the process dies mid-call).
`http` also serves `POST /token` (OAuth 2 client credentials, tokens expire in TOKEN_TTL s).
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
import time

from mcp.server import MCPServer

app = MCPServer("upstream")
SEEN: list[str] = []
METHODS: list[str] = []  # `http`: the Mcp-Method header of each request


@app.tool()
def echo(text: str) -> str:
    return f"echo:{text}"


@app.tool()
def whoami() -> str:
    return SEEN[-1] if SEEN else "anonymous"


@app.tool()
def delete_repo(name: str) -> str:
    return f"deleted {name}"


@app.tool()
def env_secret() -> str:
    return os.environ.get("FILES_KEY", "")


@app.tool()
def methods() -> str:
    return ",".join(METHODS)


@app.tool()
def crash() -> str:
    os._exit(3)


def http(port: int) -> None:
    import uvicorn
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    static = os.environ.get("UPSTREAM_TOKEN", "")
    client_id, client_secret = os.environ.get("OAUTH_ID", ""), os.environ.get("OAUTH_SECRET", "")
    ttl = float(os.environ.get("TOKEN_TTL", "3600"))
    issued: dict[str, float] = {}
    inner = app.streamable_http_app()
    counts = {"token": 0}

    async def token(request: Request) -> JSONResponse:
        basic = request.headers.get("authorization", "")
        expected = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        if not client_id or basic != f"Basic {expected}":
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        value = secrets.token_urlsafe(16)
        issued[value] = time.monotonic() + ttl
        counts["token"] += 1
        return JSONResponse({"access_token": value, "token_type": "bearer", "expires_in": ttl})

    async def asgi(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "http" and scope["path"] == "/token":
            await (await token(Request(scope, receive)))(scope, receive, send)
            return
        if scope["type"] == "http":
            auth = dict(scope["headers"]).get(b"authorization", b"").decode()
            bearer = auth.removeprefix("Bearer ")
            fresh = issued.get(bearer, 0) > time.monotonic()
            if not ((static and bearer == static) or fresh):
                await JSONResponse({"error": "unauthorized"}, status_code=401)(scope, receive, send)
                return
            SEEN.append("static" if bearer == static else f"oauth#{counts['token']}")
            METHODS.append(dict(scope["headers"]).get(b"mcp-method", b"").decode())
        await inner(scope, receive, send)

    uvicorn.run(asgi, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    if sys.argv[1] == "stdio":
        app.run("stdio")
    else:
        http(int(sys.argv[2]))
