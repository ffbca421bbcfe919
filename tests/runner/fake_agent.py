"""A fake agent CLI for the gateway end-to-end test (run by the `script` executor): it reads
its MCP endpoints from `ROUNDTABLE_MCP_URLS`/`ROUNDTABLE_MCP_TOKEN`, lists and calls tools
through the runner's gateway with the official MCP client, records what it was given (env,
argv, files of its cwd) in `seen.json` in its cwd, and prints a JSON result."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx2
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError


async def main() -> dict[str, Any]:
    urls: dict[str, str] = json.loads(os.environ["ROUNDTABLE_MCP_URLS"])
    token = os.environ["ROUNDTABLE_MCP_TOKEN"]
    out: dict[str, Any] = {"servers": sorted(urls)}
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(urls["gh"], http_client=http)) as gh,
    ):
        out["tools"] = sorted(t.name for t in (await gh.list_tools()).tools)
        out["echo"] = (await gh.call_tool("echo", {"text": "hi"})).content[0].text  # type: ignore[union-attr]
        out["whoami"] = (await gh.call_tool("whoami", {})).content[0].text  # type: ignore[union-attr]
        try:
            await gh.call_tool("delete_repo", {"name": "x"})
            out["denied"] = False
        except MCPError as exc:
            out["denied"] = "not allowed" in str(exc)
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(urls["roundtable"], http_client=http)) as rt,
    ):
        out["roundtable_tools"] = len((await rt.list_tools()).tools)
    return out


if __name__ == "__main__":
    result = asyncio.run(main())
    cwd = Path.cwd()
    seen = {
        "env": dict(os.environ),
        "argv": sys.argv,
        "files": {p.name: p.read_text(errors="replace") for p in cwd.iterdir() if p.is_file()},
    }
    (cwd / "seen.json").write_text(json.dumps(seen))
    print(json.dumps(result))
