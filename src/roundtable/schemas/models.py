"""What the schema registry takes and returns (HTTP, MCP and CLI share these)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class RegisterSchema(BaseModel):
    """`schema` is checked by the service (not here) so a bad one gets the registry's errors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(max_length=128)
    body: Any = Field(alias="schema")
    description: str = Field(default="", max_length=4096)


class SchemaInfo(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    name: str
    version: int
    ref: str = Field(description="NAME@VERSION")
    uri: str = Field(description="roundtable://schemas/NAME@VERSION, for $ref")
    digest: str
    dialect: str
    description: str
    body: dict[str, Any] = Field(alias="schema")
    refs: list[str]
    created_at: datetime
    created: bool = Field(default=False, description="False when identical content existed")


class SchemaSummary(BaseModel):
    name: str
    latest: int
    versions: list[int]
    digest: str
    description: str
    updated_at: datetime


class SchemaList(BaseModel):
    schemas: list[SchemaSummary]


class SchemaDeleted(BaseModel):
    name: str
    versions: list[int]
