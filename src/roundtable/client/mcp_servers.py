"""Client calls for the MCP server registry (HTTP, JSON in and out)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from roundtable.client.http import RoundtableClient

JSON = dict[str, Any]


class McpServers:
    def __init__(self, client: RoundtableClient) -> None:
        self.client = client

    async def apply(self, spec: JSON) -> JSON:
        name = quote(str(spec["name"]), safe="")
        return dict(await self.client.request("PUT", f"/mcp-servers/{name}", json=spec))

    async def list(self) -> list[JSON]:
        return list((await self.client.request("GET", "/mcp-servers"))["mcp_servers"])

    async def get(self, name: str) -> JSON:
        return dict(await self.client.request("GET", f"/mcp-servers/{quote(name, safe='')}"))

    async def remove(self, name: str) -> None:
        await self.client.request("DELETE", f"/mcp-servers/{quote(name, safe='')}")
