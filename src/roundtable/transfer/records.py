"""The JSONL export format: one JSON object per line, each with a `type`.

    header        format, version, namespace, exported_at, origin, hash_format
    signing_key   the public keys that signed the exported checkpoints
    witness_key   a witness the server submits to: its cosignature verifier key (name+id+key)
    project       name, description, created_at, created_by, head_seq, head_hash
    segment       a sealed range of the project above (D5), before its entries
    entry         every hashed field of one entry, its hash and leaf hash, in seq order
    checkpoint    a signed checkpoint of the project above
    cosigned      a checkpoint of the project above with witness cosignatures (its signed note)
    agent         an agent of the namespace (first and last seen)
    context       an agent's current project and its version
    end           counts of every record type (a truncated file has no `end`)

Within a project the order is project, segments, entries, checkpoints, cosigned. Timestamps are ISO 8601
UTC with microseconds, exactly as hashed (`hashing.format_ts`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FORMAT = "roundtable-namespace-export"
VERSION = 1
HEX64 = r"^[0-9a-f]{64}$"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Header(_Record):
    type: Literal["header"] = "header"
    format: Literal["roundtable-namespace-export"] = "roundtable-namespace-export"
    version: int
    namespace: str
    exported_at: datetime
    origin: str
    hash_format: int


class SigningKeyRecord(_Record):
    type: Literal["signing_key"] = "signing_key"
    kid: str = Field(min_length=1, max_length=64)
    algorithm: str = Field(min_length=1, max_length=16)
    public_key: str = Field(min_length=1, max_length=64)
    created_at: datetime
    retired_at: datetime | None = None


class WitnessKeyRecord(_Record):
    type: Literal["witness_key"] = "witness_key"
    key: str = Field(min_length=1, max_length=256)


class ProjectRecord(_Record):
    type: Literal["project"] = "project"
    name: str
    description: str = ""
    created_at: datetime
    created_by: str
    head_seq: int = Field(ge=0)
    head_hash: str = Field(pattern=HEX64)


class SegmentRecord(_Record):
    type: Literal["segment"] = "segment"
    project: str
    number: int = Field(ge=1)
    first_seq: int = Field(ge=1)
    last_seq: int = Field(ge=1)
    root: str
    tree_root: str
    archive_sha256: str = Field(pattern=HEX64)
    rotation_seq: int = Field(ge=1)
    created_at: datetime
    pruned_at: datetime | None = None


class EntryRecord(_Record):
    type: Literal["entry"] = "entry"
    project: str
    seq: int = Field(ge=1)
    ts: datetime
    agent: str
    session_id: str | None
    status: str
    kind: str
    message: str
    meta: dict[str, Any]
    prev_hash: str = Field(pattern=HEX64)
    hash: str = Field(pattern=HEX64)
    leaf_hash: str = Field(pattern=HEX64)


class CheckpointRecord(_Record):
    type: Literal["checkpoint"] = "checkpoint"
    project: str
    size: int = Field(ge=0)
    root: str = Field(pattern=HEX64)
    key_id: str = Field(min_length=1, max_length=64)
    note: str
    created_at: datetime


class CosignedRecord(_Record):
    """Size and root are the signed note's own (what the witnesses vouched for)."""

    type: Literal["cosigned"] = "cosigned"
    project: str
    note: str = Field(max_length=64 * 1024)


class AgentRecord(_Record):
    type: Literal["agent"] = "agent"
    name: str
    first_seen: datetime
    last_seen: datetime
    blueprint: str | None = None


class ContextRecord(_Record):
    type: Literal["context"] = "context"
    agent: str
    project: str | None
    version: int = Field(ge=0)
    updated_at: datetime


class End(_Record):
    type: Literal["end"] = "end"
    counts: dict[str, int]


RECORDS: dict[str, type[_Record]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        Header,
        SigningKeyRecord,
        WitnessKeyRecord,
        ProjectRecord,
        SegmentRecord,
        EntryRecord,
        CheckpointRecord,
        CosignedRecord,
        AgentRecord,
        ContextRecord,
        End,
    )
}
