"""C2SP signed notes (c2sp.org/signed-note) carrying tlog checkpoints (c2sp.org/tlog-checkpoint).

A checkpoint is the note text "<origin>\\n<tree size>\\n<base64 root>\\n"; the signed note is that
text, a blank line, and one signature line per signer: "— <key name> <base64(key hash || sig)>".
For Ed25519 (signature type 0x01) the key hash is the first 4 bytes of
SHA-256(key name || "\\n" || 0x01 || public key), and a verifier key is written
"<name>+<key hash as 8 hex digits>+<base64(0x01 || public key)>", exactly as Go's
golang.org/x/mod/sumdb/note does, so any standard verifier can check our checkpoints.
Only `cryptography` and `hashlib` are needed; nothing here touches the database.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

#: Signature type byte of Ed25519 keys in the signed-note format.
ALG_ED25519 = 0x01
SIGNATURE_PREFIX = "— "  # U+2014 EM DASH, then a space


class NoteError(ValueError):
    """A note that is malformed or whose signature does not verify (`kind` says which)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def check_key_name(name: str) -> str:
    """Key names are non-empty and contain no Unicode spaces or plus signs (the spec)."""
    if not name or "+" in name or any(ch.isspace() for ch in name):
        raise NoteError("malformed", f"invalid signed-note key name {name!r}")
    return name


def key_hash(name: str, public_raw: bytes) -> bytes:
    """The 4-byte key hash that prefixes every signature by this key."""
    check_key_name(name)
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_raw).digest()[:4]


def verifier_key(name: str, public_raw: bytes) -> str:
    """The verifier key string, e.g. `PeterNeumann+c74f20a3+ARpc2Qc...`."""
    encoded = base64.b64encode(bytes([ALG_ED25519]) + public_raw).decode()
    return f"{name}+{key_hash(name, public_raw).hex()}+{encoded}"


@dataclass(frozen=True)
class NoteVerifier:
    """A public key as the signed-note format names it."""

    name: str
    public_raw: bytes

    @property
    def key_hash(self) -> bytes:
        return key_hash(self.name, self.public_raw)

    @classmethod
    def parse(cls, vkey: str) -> NoteVerifier:
        """Read a verifier key string, checking its key hash."""
        parts = vkey.split("+", 2)
        if len(parts) != 3:
            raise NoteError("malformed", "a verifier key is name+hash+key")
        name, hash_hex, encoded = parts
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise NoteError("malformed", "the verifier key is not base64") from None
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("malformed", "only Ed25519 verifier keys are supported")
        verifier = cls(check_key_name(name), raw[1:])
        if verifier.key_hash.hex() != hash_hex.lower():
            raise NoteError("malformed", "the verifier key's hash does not match its key")
        return verifier

    def verify(self, text: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_raw).verify(signature, text)
        except (InvalidSignature, ValueError):
            return False
        return True


def sign(text: str, name: str, private: Ed25519PrivateKey, public_raw: bytes) -> str:
    """Sign note `text` (which must end in a newline) and return the whole signed note."""
    if not text.endswith("\n") or "\n\n" in text:
        raise NoteError("malformed", "note text must end in a newline and hold no blank line")
    data = text.encode()
    blob = key_hash(name, public_raw) + private.sign(data)
    return f"{text}\n{SIGNATURE_PREFIX}{name} {base64.b64encode(blob).decode()}\n"


@dataclass(frozen=True)
class Signature:
    name: str
    key_hash: bytes
    signature: bytes


def split(note: str) -> tuple[str, list[Signature]]:
    """The note's text and its signature lines (unverified)."""
    text, sep, sigs = note.rpartition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise NoteError("malformed", "a signed note is text, a blank line, then signature lines")
    text += "\n"
    signatures: list[Signature] = []
    for line in sigs[:-1].split("\n"):
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError("malformed", f"not a signature line: {line[:60]!r}")
        name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
        try:
            blob = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise NoteError("malformed", "a signature is not base64") from None
        if len(blob) < 5:
            raise NoteError("malformed", "a signature is too short")
        signatures.append(Signature(name, blob[:4], blob[4:]))
    if not signatures:
        raise NoteError("malformed", "the note carries no signature")
    return text, signatures


def open_note(note: str, verifiers: list[NoteVerifier]) -> tuple[str, NoteVerifier]:
    """Verify `note` against known keys; return its text and the key that signed it.

    Signatures by keys we do not know are skipped (cosignatures are allowed); at least one known
    key must have signed, else `NoteError("unknown_key")`; a known key's bad signature is
    `NoteError("bad_signature")`.
    """
    text, signatures = split(note)
    by_id = {(v.name, v.key_hash): v for v in verifiers}
    signer: NoteVerifier | None = None
    for sig in signatures:
        verifier = by_id.get((sig.name, sig.key_hash))
        if verifier is None:
            continue
        if not verifier.verify(text.encode(), sig.signature):
            raise NoteError("bad_signature", f"the signature by {sig.name} does not verify")
        signer = signer or verifier
    if signer is None:
        names = ", ".join(f"{s.name}+{s.key_hash.hex()}" for s in signatures)
        raise NoteError("unknown_key", f"signed by no known key ({names})")
    return text, signer


@dataclass(frozen=True)
class CheckpointBody:
    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> CheckpointBody:
        """Read a tlog-checkpoint body (extension lines after the root are allowed, ignored)."""
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise NoteError("malformed", "a checkpoint is origin, size and root lines")
        origin, size, root = lines[0], lines[1], lines[2]
        if not origin or not size.isdigit() or (size != "0" and size.startswith("0")):
            raise NoteError("malformed", "a checkpoint's size is a decimal without leading zeros")
        try:
            digest = base64.b64decode(root, validate=True)
        except binascii.Error:
            raise NoteError("malformed", "a checkpoint's root is not base64") from None
        if len(digest) != 32:
            raise NoteError("malformed", "a checkpoint's root is not a SHA-256 hash")
        if int(size) >= 1 << 64:
            raise NoteError("malformed", "a checkpoint's size exceeds 64 bits")
        return cls(origin, int(size), digest)
