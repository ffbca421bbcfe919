"""Journal records as every interface sees them."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from roundtable.journal.hashing import canonical_entry


class Status(StrEnum):
    INFO = "info"
    SUCCESS = "success"
    WARN = "warn"
    ERROR = "error"
    BUG = "bug"

    @property
    def emoji(self) -> str:
        return EMOJI[self]


#: How people see a status (the same marks Scribe MCP logs use).
EMOJI: dict[Status, str] = {
    Status.INFO: "ℹ️",
    Status.SUCCESS: "✅",
    Status.WARN: "⚠️",
    Status.ERROR: "❌",
    Status.BUG: "🐞",
}

MetaScalar = str | int | float | bool | None
#: The largest integer a database column (BIGINT) holds.
MAX_INT64 = 2**63 - 1
#: The largest integer RFC 8785 (I-JSON) represents exactly: the bound on integers in meta.
MAX_JSON_INT = 2**53 - 1


class EntryInput(BaseModel):
    """One entry to append. Unknown fields are refused, so typos never pass silently."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(description="What happened, for people and agents to read.")
    status: Status = Field(default=Status.INFO, description="info, success, warn, error or bug.")
    kind: str = Field(default="progress", description="A free category, e.g. progress, decision.")
    meta: dict[str, Any] = Field(
        default_factory=dict,
        description="Structured details (a JSON object). Put your own clock in meta.occurred_at.",
    )


class Entry(BaseModel):
    namespace: str
    project: str
    seq: int = Field(description="Gap-free position in the project's journal, from 1.")
    ts: datetime = Field(description="Server-assigned time of the append.")
    agent: str
    session_id: str | None
    status: Status
    emoji: str
    kind: str
    message: str
    meta: dict[str, Any]
    prev_hash: str
    hash: str

    def canonical(self) -> bytes:
        """The RFC 8785 bytes its `hash` and Merkle leaf cover, recomputed from these fields."""
        return canonical_entry(
            namespace=self.namespace,
            project=self.project,
            seq=self.seq,
            ts=self.ts,
            agent=self.agent,
            session_id=self.session_id,
            status=self.status.value,
            kind=self.kind,
            message=self.message,
            meta=self.meta,
            prev_hash=self.prev_hash,
        )


class EntryPage(BaseModel):
    entries: list[Entry]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null at the end."
    )
    scanned: int | None = Field(
        default=None, description="Rows examined by a regex filter (bounded by the scan limit)."
    )
    archived: list[ArchivedRange] = Field(
        default_factory=list,
        description="Sealed ranges whose bodies retention moved to archives: a query does not "
        "search them (read_recent reads them back; or read the archive file).",
    )


class ArchivedRange(BaseModel):
    """A sealed segment whose entry bodies live only in its archive (retention, D5)."""

    project: str
    segment: int
    first_seq: int
    last_seq: int
    archive: str = Field(description="Archive path relative to the data directory.")


class AppendResult(BaseModel):
    project: str
    first_seq: int
    last_seq: int
    head_hash: str
    entries: list[Entry]


class ProjectInfo(BaseModel):
    namespace: str
    name: str
    description: str
    created_at: datetime
    created_by: str
    size: int = Field(description="Number of entries (the head sequence number).")
    head_hash: str


class QueryFilter(BaseModel):
    """Filters for `query_entries`; every one given must match (AND)."""

    model_config = ConfigDict(extra="forbid")

    projects: list[str] | None = Field(default=None, description="Restrict to these projects.")
    agent: str | None = None
    session_id: str | None = None
    status: list[Status] | None = None
    kind: str | None = None
    text: str | None = Field(
        default=None,
        description="Every word must occur, as a whole word; quotes, `*`, OR, NEAR are plain text.",
    )
    regex: str | None = Field(default=None, description="Python regex on the message (bounded).")
    meta: dict[str, MetaScalar] | None = Field(
        default=None, description="meta keys that must equal these JSON values exactly."
    )
    since: datetime | None = Field(default=None, description="ts >= since")
    until: datetime | None = Field(default=None, description="ts < until")
    seq_min: int | None = Field(default=None, ge=1, le=MAX_INT64)
    seq_max: int | None = Field(default=None, ge=1, le=MAX_INT64)
    order: Literal["newest", "oldest"] = "newest"
    limit: int = Field(default=50, ge=1, le=MAX_INT64)
    cursor: str | None = None

    @field_validator("since", "until")
    @classmethod
    def _in_utc_range(cls, value: datetime | None) -> datetime | None:
        """A moment that exists in UTC (0001-01-01T00:00+14:00 does not: it is year 0)."""
        if value is not None and value.tzinfo is not None:
            try:
                value.astimezone(UTC)
            except OverflowError:
                raise ValueError("date out of range once converted to UTC") from None
        return value

    @field_validator("meta")
    @classmethod
    def _exact_ints(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """Integers beyond ±(2^53 - 1) cannot be stored in meta (RFC 8785), so never match."""
        for item in (value or {}).values():
            if isinstance(item, int) and not isinstance(item, bool) and abs(item) > MAX_JSON_INT:
                raise ValueError(f"integers in meta are limited to ±{MAX_JSON_INT}")
        return value


class Checkpoint(BaseModel):
    namespace: str
    project: str
    size: int = Field(description="Tree size (entries 1..size) the checkpoint commits to.")
    root: str = Field(description="Merkle root (RFC 9162) at that size, hex.")
    key_id: str = Field(description="Id of the signing key (see /.well-known/jwks.json).")
    note: str = Field(description="The C2SP signed note (tlog-checkpoint body + signature).")
    created_at: datetime


class CheckpointPage(BaseModel):
    checkpoints: list[Checkpoint]
    next_cursor: str | None = None


class Damage(StrEnum):
    """What `verify` found wrong (stable names: scripts may match on them; see docs/audit.md)."""

    EDITED = "edited"  # an entry's content no longer matches its hash
    DELETED = "deleted"  # an entry is missing
    INSERTED = "inserted"  # an entry was added (in the middle, or beyond the head)
    REORDERED = "reordered"  # entries were moved
    DUPLICATED = "duplicated"  # an entry was copied
    TRUNCATED = "truncated"  # the tail was cut below a signed checkpoint's size
    MISSING_CHECKPOINT = "missing_checkpoint"  # a checkpoint that must exist does not
    UNWITNESSED = "unwitnessed"  # fewer witness cosignatures than `verify --witnesses` asked
    HEAD_MISMATCH = "head_mismatch"  # the project's recorded head hash differs
    BAD_LEAF_HASH = "bad_leaf_hash"  # a stored leaf hash does not match its entry
    TREE_MISMATCH = "tree_mismatch"  # a stored Merkle node or the frontier is wrong
    BAD_SIGNATURE = "bad_signature"  # a checkpoint note's signature does not verify
    UNKNOWN_KEY = "unknown_key"  # signed by a key that is not registered or not ours
    FORGED_KEY = "forged_key"  # a registered public key does not match its key id
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"  # a signed root or size disagrees with the log
    ARCHIVE_MISSING = "archive_missing"  # a segment's archive file is gone
    ARCHIVE_DIGEST = "archive_digest"  # an archive's SHA-256 differs from the recorded one
    ARCHIVE_CONTENT = "archive_content"  # an archived line differs from the entry's hash
    SEGMENT_MISMATCH = "segment_mismatch"  # a segment row disagrees with its rotation entry


class VerifyReport(BaseModel):
    namespace: str
    project: str
    ok: bool
    checked: int = Field(description="Entries recomputed.")
    size: int = Field(description="The project's recorded head sequence number.")
    head_hash: str
    first_bad_seq: int | None = None
    problem: Damage | None = Field(
        default=None,
        description="The kind of damage, e.g. edited, deleted, inserted, reordered, duplicated, "
        "truncated, bad_leaf_hash, tree_mismatch, bad_signature, unknown_key, forged_key, "
        "checkpoint_mismatch, archive_missing, archive_digest, archive_content.",
    )
    detail: str | None = None
    checkpoints_checked: int = Field(default=0, description="Checkpoint signatures verified.")
    tree_nodes_checked: int = Field(default=0, description="Stored Merkle nodes recomputed.")
    segments_checked: int = Field(default=0, description="Segments whose archive was checked.")
    archived_checked: int = Field(default=0, description="Archive lines checked.")
    keys_checked: int = Field(default=0, description="Registered signing keys checked.")
    anchors_checked: int = Field(
        default=0, description="Checkpoints of this data directory's anchor file checked."
    )
    witnessed_size: int | None = Field(
        default=None, description="Size of the newest checkpoint witnesses cosigned (if asked)."
    )
    cosigners: list[str] = Field(
        default_factory=list, description="The configured witnesses that cosigned it."
    )


class TreeHead(BaseModel):
    """A journal's Merkle tree at one size (RFC 9162 MTH of its first `size` leaf hashes)."""

    namespace: str
    project: str
    size: int = Field(description="Number of leaves (entries 1..size).")
    root: str = Field(description="Merkle tree hash, hex.")


class InclusionProof(BaseModel):
    """RFC 9162 §2.1.3 inclusion proof: `path` links `leaf_hash` at `leaf_index` to `root`."""

    namespace: str
    project: str
    seq: int
    leaf_index: int = Field(description="seq - 1.")
    tree_size: int
    leaf_hash: str = Field(description="SHA-256(0x00 || RFC 8785 canonical entry), hex.")
    root: str = Field(description="Merkle tree hash at tree_size, hex.")
    path: list[str] = Field(description="Audit path, leaf side first, hex.")


class ConsistencyProof(BaseModel):
    """RFC 9162 §2.1.4 consistency proof: the tree at old_size is a prefix of the one at new_size."""

    namespace: str
    project: str
    old_size: int
    new_size: int
    old_root: str
    new_root: str
    path: list[str] = Field(description="Consistency path, hex.")


class ProofBundle(BaseModel):
    """What `get_proof` answers: the tree head at one size, and the proofs asked for against it."""

    tree: TreeHead
    inclusion: InclusionProof | None = None
    consistency: ConsistencyProof | None = None


class RotationResult(BaseModel):
    """A sealed segment, as `rotate` reports it."""

    namespace: str
    project: str
    segment: int
    first_seq: int
    last_seq: int
    root: str = Field(description="Merkle root (hex) of the segment's own entries.")
    tree_root: str = Field(description="Root of the whole tree at size last_seq (hex).")
    archive: str = Field(description="Archive path relative to the data directory.")
    archive_sha256: str
    markdown: str = Field(description="Markdown rendering, relative to the data directory.")
    rotation_seq: int = Field(description="Seq of the rotation entry in the chain.")
    checkpoint_size: int = Field(description="Size of the checkpoint signed by the rotation.")
