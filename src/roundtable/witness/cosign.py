"""C2SP tlog-cosignature/v1 (Ed25519): a witness's timestamped signature on a checkpoint.

A cosignature is a signed-note signature line `— <name> base64(key ID || timestamp || sig)`:
the key ID is SHA-256(name || "\\n" || 0x04 || public key)[:4], the timestamp a big-endian u64
(POSIX seconds), and the Ed25519 signature covers "cosignature/v1\\ntime <ts>\\n" followed by the
checkpoint body. Verifier keys are written `name+<key ID hex>+base64(0x04 || public key)`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from roundtable.journal import notes

ALG_COSIGNATURE_V1 = 0x04


def key_id(name: str, public_raw: bytes) -> bytes:
    notes.check_key_name(name)
    return hashlib.sha256(
        name.encode() + b"\n" + bytes([ALG_COSIGNATURE_V1]) + public_raw
    ).digest()[:4]


def verifier_key(name: str, public_raw: bytes) -> str:
    encoded = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + public_raw).decode()
    return f"{name}+{key_id(name, public_raw).hex()}+{encoded}"


def message(body: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


def cosign(body: str, name: str, private: Ed25519PrivateKey, public_raw: bytes, ts: int) -> str:
    """The cosignature line (with its newline) on checkpoint `body`."""
    blob = key_id(name, public_raw) + struct.pack(">Q", ts) + private.sign(message(body, ts))
    return f"{notes.SIGNATURE_PREFIX}{name} {base64.b64encode(blob).decode()}\n"


@dataclass(frozen=True)
class Cosigner:
    """A witness as a log client knows it: its name and public key."""

    name: str
    public_raw: bytes

    @classmethod
    def parse(cls, vkey: str) -> Cosigner:
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:
            raise notes.NoteError("malformed", "a witness key is name+id+key")
        name, id_hex, encoded = parts
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise notes.NoteError("malformed", "the witness key is not base64") from None
        if len(raw) != 33 or raw[0] != ALG_COSIGNATURE_V1:
            raise notes.NoteError("malformed", "not an Ed25519 cosignature/v1 key (type 0x04)")
        cosigner = cls(notes.check_key_name(name), raw[1:])
        if key_id(name, raw[1:]).hex() != id_hex.lower():
            raise notes.NoteError("malformed", "the witness key's id does not match its key")
        return cosigner

    def verify(self, body: str, signature: notes.Signature) -> bool:
        """Whether `signature` (a parsed note signature line) is our cosignature on `body`."""
        if signature.name != self.name or signature.key_hash != key_id(self.name, self.public_raw):
            return False
        blob = signature.signature
        if len(blob) != 8 + 64:
            return False
        (ts,) = struct.unpack(">Q", blob[:8])
        try:
            Ed25519PublicKey.from_public_bytes(self.public_raw).verify(blob[8:], message(body, ts))
        except (InvalidSignature, ValueError):
            return False
        return True


def cosigned_by(note: str, cosigners: list[Cosigner]) -> set[str]:
    """The names of the `cosigners` whose valid cosignature the signed `note` carries."""
    try:
        body, signatures = notes.split(note)
    except notes.NoteError:
        return set()
    return {c.name for c in cosigners for s in signatures if c.verify(body, s)}
