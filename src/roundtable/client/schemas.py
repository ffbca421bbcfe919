"""Client calls for the schema registry (HTTP, JSON in and out)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from roundtable.client.http import RoundtableClient

JSON = dict[str, Any]


class Schemas:
    def __init__(self, client: RoundtableClient) -> None:
        self.client = client

    async def register(self, name: str, schema: Any, description: str = "") -> JSON:
        body = {"name": name, "schema": schema, "description": description}
        return dict(await self.client.request("POST", "/schemas", json=body))

    async def list(self) -> list[JSON]:
        return list((await self.client.request("GET", "/schemas"))["schemas"])

    async def get(self, ref: str) -> JSON:
        return dict(await self.client.request("GET", f"/schemas/{quote(ref, safe='@')}"))

    async def delete(self, ref: str) -> JSON:
        return dict(await self.client.request("DELETE", f"/schemas/{quote(ref, safe='@')}"))
