"""The per-object checks `verify` runs besides the entry walk: checkpoint notes, archives,
rotation entries, the keyring; and the fast path to an entry's canonical bytes.

Each returns nothing or raises `Damaged(seq, kind, detail)`; `journal.verify` orders them by
sequence number so the report names the first bad one.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roundtable.auth.keyring import Anchors, PublicKey
from roundtable.journal import notes
from roundtable.journal.models import Damage


class Damaged(Exception):
    """Verification stops here: `seq` is the first bad sequence number (None: not an entry)."""

    def __init__(
        self, seq: int | None, damage: Damage, detail: str, *, upto: int | None = None
    ) -> None:
        super().__init__(detail)
        self.seq = seq
        self.damage = damage
        self.detail = detail
        self.upto = seq if upto is None else upto  # the last seq the damage may lie at


@dataclass(frozen=True)
class CheckedCheckpoint:
    size: int
    root: bytes
    kid: str


def check_checkpoint(
    row: Any,
    keys: dict[str, PublicKey],
    trusted: set[str],
    namespace: str,
    project: str,
) -> CheckedCheckpoint:
    """Verify a checkpoint row's signed note; the root is compared with the tree by the caller.

    The signer is found by the note's own key hash (name + public key), among registered keys;
    a key whose row no longer fits its kid was replaced and is never used.
    """
    size = int(row["size"])
    where = f"checkpoint at size {size}"
    kid = str(row["key_id"])
    claimed = keys.get(kid)
    if claimed is not None and not claimed.consistent:
        raise Damaged(size, Damage.FORGED_KEY, f"{where}: key {kid}'s public key was replaced")
    try:
        text, signatures = notes.split(str(row["note"]))
        body = notes.CheckpointBody.parse(text)
    except notes.NoteError as exc:
        raise Damaged(size, Damage.CHECKPOINT_MISMATCH, f"{where}: {exc}") from None
    signer: PublicKey | None = None
    signed_name = ""
    for sig in signatures:
        for key in keys.values():
            if key.consistent and notes.key_hash(sig.name, key.public_raw) == sig.key_hash:
                verifier = notes.NoteVerifier(sig.name, key.public_raw)
                if not verifier.verify(text.encode(), sig.signature):
                    raise Damaged(
                        size, Damage.BAD_SIGNATURE, f"{where}: the signature does not verify"
                    )
                signer, signed_name = key, sig.name
    if signer is None:
        raise Damaged(size, Damage.UNKNOWN_KEY, f"{where}: signed by no registered key")
    if signer.kid not in trusted:
        raise Damaged(
            size,
            Damage.UNKNOWN_KEY,
            f"{where}: signed by key {signer.kid}, registered but not one of this server's "
            "keys (not in DATA_DIR/keys, not in trusted_keys)",
        )
    if signer.kid != kid:
        raise Damaged(size, Damage.CHECKPOINT_MISMATCH, f"{where}: key id column says {kid}")
    if body.origin != f"{signed_name}/{namespace}/{project}":
        raise Damaged(size, Damage.CHECKPOINT_MISMATCH, f"{where}: origin {body.origin!r}")
    if body.size != size or body.root.hex() != row["root"]:
        raise Damaged(
            size,
            Damage.CHECKPOINT_MISMATCH,
            f"{where}: the row's size or root differs from the note",
        )
    return CheckedCheckpoint(size, body.root, signer.kid)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ArchiveReader:
    """One segment's archive, read line by line in step with the entry walk."""

    def __init__(self, data_dir: Path, segment: Any) -> None:
        self.segment = segment
        first = int(segment["first_seq"])
        path = data_dir / str(segment["archive"])
        number = segment["number"]
        if not path.is_file():
            raise Damaged(first, Damage.ARCHIVE_MISSING, f"segment {number}: {path} is missing")
        digest = file_sha256(path)
        if digest != segment["archive_sha256"]:
            raise Damaged(
                first,
                Damage.ARCHIVE_DIGEST,
                f"segment {number}: {path.name} has SHA-256 {digest[:16]}…, "
                f"the segment row records {str(segment['archive_sha256'])[:16]}…",
            )
        self._handle = gzip.GzipFile(path, "rb")
        self.path = path

    def line(self, seq: int) -> bytes:
        """The canonical bytes archived for `seq` (checked against its hash by the caller)."""
        try:
            raw = self._handle.readline()
        except (OSError, EOFError, zlib.error) as exc:
            raise Damaged(seq, Damage.ARCHIVE_CONTENT, f"{self.path.name}: {exc}") from None
        if not raw.endswith(b"\n"):
            raise Damaged(seq, Damage.ARCHIVE_CONTENT, f"{self.path.name} ends before entry {seq}")
        return raw[:-1]

    def finish(self, seq: int) -> None:
        try:
            extra = self._handle.read(1)
        except (OSError, EOFError, zlib.error) as exc:
            raise Damaged(seq, Damage.ARCHIVE_CONTENT, f"{self.path.name}: {exc}") from None
        finally:
            self._handle.close()
        if extra:
            raise Damaged(seq, Damage.ARCHIVE_CONTENT, f"{self.path.name} has lines beyond {seq}")

    def close(self) -> None:
        self._handle.close()


ROTATION_FIELDS = ("first_seq", "last_seq", "root", "tree_root", "archive", "archive_sha256")


def check_rotation_meta(seq: int, meta: dict[str, Any], segment: Any) -> None:
    """The rotation entry (hashed into the chain) must repeat its segment row's fields."""
    if meta.get("segment") != segment["number"]:
        raise Damaged(
            seq,
            Damage.SEGMENT_MISMATCH,
            f"rotation entry {seq} names segment {meta.get('segment')}",
        )
    for field in ROTATION_FIELDS:
        if meta.get(field) != segment[field]:
            kind = Damage.ARCHIVE_DIGEST if field == "archive_sha256" else Damage.SEGMENT_MISMATCH
            raise Damaged(
                seq,
                kind,
                f"segment {segment['number']}: {field} is {segment[field]!r} in the segments "
                f"table but {meta.get(field)!r} in rotation entry {seq}",
            )


def check_keys(keys: dict[str, PublicKey], anchors: Anchors) -> None:
    """Keys no checkpoint of this journal used can still show tampering."""
    for key in keys.values():
        if not key.consistent:
            raise Damaged(None, Damage.FORGED_KEY, f"key {key.kid}'s public key was replaced")
    file_kid = anchors.file_kid
    if file_kid is not None and file_kid not in anchors.trusted:
        raise Damaged(
            None,
            Damage.UNKNOWN_KEY,
            f"the signing key file holds key {file_kid}, but this server signs with "
            f"{anchors.memory_kid}, which was not rotated out: the key file was replaced",
        )
