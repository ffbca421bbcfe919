"""The context store's HTTP calls, for the CLI (and any Python program)."""

from __future__ import annotations

from typing import Any

from roundtable.client.http import RoundtableClient
from roundtable.documents.models import (
    DeleteResult,
    Document,
    DocumentInfo,
    DocumentPage,
    EditResult,
    RelationList,
    SearchPage,
)


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class DocumentsClient:
    """`/namespaces/{ns}/documents` of one server, as the client's caller."""

    def __init__(self, client: RoundtableClient) -> None:
        self.client = client

    async def _call(self, method: str, path: str = "", **kw: Any) -> Any:
        return await self.client._call(method, "/documents" + path, **kw)

    async def put(self, name: str, content: str, **fields: Any) -> DocumentInfo:
        body = _clean({"name": name, "content": content, **fields})
        return DocumentInfo.model_validate(await self._call("POST", json=body))

    async def get(
        self, ref: str, *, offset: int = 0, limit: int | None = None, **filters: Any
    ) -> Document:
        params = _clean({"offset": offset, "limit": limit, **filters})
        return Document.model_validate(await self._call("GET", f"/{ref}", params=params))

    async def edit(self, ref: str, **fields: Any) -> EditResult:
        return EditResult.model_validate(await self._call("PATCH", f"/{ref}", json=_clean(fields)))

    async def list(self, **filters: Any) -> DocumentPage:
        return DocumentPage.model_validate(await self._call("GET", params=_clean(filters)))

    async def search(self, query: str, **filters: Any) -> SearchPage:
        params = _clean({"q": query, **filters})
        return SearchPage.model_validate(await self._call("GET", "/search", params=params))

    async def delete(self, ref: str, *, expected_version: int | None = None) -> DeleteResult:
        params = _clean({"expected_version": expected_version})
        return DeleteResult.model_validate(await self._call("DELETE", f"/{ref}", params=params))

    async def set_lifecycle(
        self, ref: str, lifecycle: str, *, expected_version: int | None = None
    ) -> DocumentInfo:
        body = _clean({"lifecycle": lifecycle, "expected_version": expected_version})
        return DocumentInfo.model_validate(await self._call("POST", f"/{ref}/lifecycle", json=body))

    async def relate(self, ref: str, other: str, kind: str, **notes: Any) -> RelationList:
        body = _clean({"other": other, "kind": kind, **notes})
        return RelationList.model_validate(await self._call("POST", f"/{ref}/relations", json=body))
