"""The server's Ed25519 signing key (tokens now, checkpoints later) and its JWKS."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from roundtable.auth.files import read_or_create


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def ed25519_jwk(public_raw: bytes, kid: str) -> dict[str, Any]:
    """An Ed25519 public key as a JWK (RFC 8037) for the JWKS."""
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64url(public_raw),
        "kid": kid,
        "alg": "EdDSA",
        "use": "sig",
    }


class SigningKey:
    """An Ed25519 key with a key id derived from its public key (so ids never collide)."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self.private = private
        self.public: Ed25519PublicKey = private.public_key()
        raw = self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.public_raw = raw
        self.kid = hashlib.sha256(raw).hexdigest()[:16]

    @classmethod
    def load_or_create(cls, data_dir: Path) -> SigningKey:
        pem = read_or_create(
            data_dir / "keys" / "signing-ed25519.pem",
            lambda: Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        private = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise RuntimeError("the signing key file does not hold an Ed25519 key")
        return cls(private)

    def jwk(self) -> dict[str, Any]:
        return ed25519_jwk(self.public_raw, self.kid)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk()]}
